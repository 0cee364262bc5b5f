-- A database written by wxstation with spool schema 2 (see README.md).
BEGIN TRANSACTION;
CREATE TABLE batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    packet_id INTEGER NOT NULL UNIQUE REFERENCES packets (id),
    device_id INTEGER NOT NULL,
    info TEXT NOT NULL
);
INSERT INTO "batches" VALUES(1,1,1,'{"device_id": 1, "station": "Station 1", "arrival": 1790003636.0, "header": {"bytes_ready": 180, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 1, "sensor_count": 3}, "announced": 30, "received": 30, "resent": 0, "duplicates": 0, "spacing": 120.0, "clock_factor": 1.0, "calibrated": false, "problems": []}');
INSERT INTO "batches" VALUES(2,2,1,'{"device_id": 1, "station": "Station 1", "arrival": 1790007272.0, "header": {"bytes_ready": 180, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 1, "sensor_count": 3}, "announced": 30, "received": 30, "resent": 0, "duplicates": 0, "spacing": 121.2, "clock_factor": 1.01, "calibrated": true, "problems": []}');
INSERT INTO "batches" VALUES(3,3,1,'{"device_id": 1, "station": "Station 1", "arrival": 1790010908.0, "header": {"bytes_ready": 180, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 1, "sensor_count": 3}, "announced": 30, "received": 30, "resent": 0, "duplicates": 0, "spacing": 121.2, "clock_factor": 1.01, "calibrated": true, "problems": []}');
INSERT INTO "batches" VALUES(4,4,1,'{"device_id": 1, "station": "Station 1", "arrival": 1790014544.0, "header": {"bytes_ready": 348, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 1, "sensor_count": 3}, "announced": 58, "received": 58, "resent": 28, "duplicates": 28, "spacing": 121.2, "clock_factor": 1.01, "calibrated": true, "problems": []}');
INSERT INTO "batches" VALUES(5,5,3,'{"device_id": 3, "station": "Station 3", "arrival": 1790003700.0, "header": {"bytes_ready": 180, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 3, "sensor_count": 3}, "announced": 30, "received": 30, "resent": 0, "duplicates": 0, "spacing": 120.0, "clock_factor": 1.0, "calibrated": false, "problems": []}');
INSERT INTO "batches" VALUES(6,6,3,'{"device_id": 3, "station": "Station 3", "arrival": 1790003700.0, "header": {"bytes_ready": 180, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 3, "sensor_count": 3}, "announced": 30, "received": 30, "resent": 0, "duplicates": 0, "spacing": 120.0, "clock_factor": 1.0, "calibrated": false, "problems": []}');
INSERT INTO "batches" VALUES(7,7,4,'{"device_id": 4, "station": "Station 4", "arrival": 1790003800.0, "header": {"bytes_ready": 180, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 4, "sensor_count": 3}, "announced": 30, "received": 30, "resent": 0, "duplicates": 0, "spacing": 120.0, "clock_factor": 1.0, "calibrated": false, "problems": []}');
INSERT INTO "batches" VALUES(8,8,4,'{"device_id": 4, "station": "Station 4", "arrival": 1790003800.0, "header": {"bytes_ready": 180, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 4, "sensor_count": 3}, "announced": 30, "received": 30, "resent": 30, "duplicates": 30, "spacing": 120.0, "clock_factor": 1.0, "calibrated": false, "problems": []}');
INSERT INTO "batches" VALUES(9,9,5,'{"device_id": 5, "station": "Station 5", "arrival": 1790003900.0, "header": {"bytes_ready": 180, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 5, "sensor_count": 3}, "announced": 30, "received": 12, "resent": 0, "duplicates": 0, "spacing": 120.0, "clock_factor": 1.0, "calibrated": false, "problems": []}');
INSERT INTO "batches" VALUES(10,10,7,'{"device_id": 7, "station": "Greenhouse", "arrival": 1790004000.0, "header": {"bytes_ready": 180, "wake_every_s": 3600, "measure_every_s": 120, "bytes_per_sample": 6, "device_id": 7, "sensor_count": 2}, "announced": 30, "received": 30, "resent": 0, "duplicates": 0, "spacing": 120.0, "clock_factor": 1.0, "calibrated": false, "problems": ["record 5 (byte 39): temperature is nan"]}');
CREATE TABLE conflicts (
    device_id INTEGER NOT NULL,
    station TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    -- the values of the sample in the store, and of the other sample
    stored TEXT NOT NULL,
    other TEXT NOT NULL,
    -- the batch that brought the other sample
    seq INTEGER NOT NULL REFERENCES batches (seq),
    PRIMARY KEY (device_id, time_ms, other)
);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790001060000,'{"light": 6336.0, "humidity": 51.47222900390625, "temperature": 20.417812500000004}','{"light": 11701.0, "humidity": 58.5294189453125, "temperature": 17.532761230468743}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790001180000,'{"light": 6284.0, "humidity": 52.25042724609375, "temperature": 20.396362304687493}','{"light": 11852.0, "humidity": 58.00299072265625, "temperature": 17.54348632812499}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790001300000,'{"light": 6239.0, "humidity": 51.76214599609375, "temperature": 20.385637207031245}','{"light": 12002.0, "humidity": 57.85040283203125, "temperature": 17.532761230468743}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790001420000,'{"light": 6198.0, "humidity": 51.04498291015625, "temperature": 20.428537597656252}','{"light": 12151.0, "humidity": 58.35394287109375, "temperature": 17.554211425781254}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790001540000,'{"light": 6164.0, "humidity": 51.43408203125, "temperature": 20.4392626953125}','{"light": 12299.0, "humidity": 58.82696533203125, "temperature": 17.54348632812499}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790001660000,'{"light": 6135.0, "humidity": 50.95343017578125, "temperature": 20.3534619140625}','{"light": 12446.0, "humidity": 57.5528564453125, "temperature": 17.54348632812499}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790001780000,'{"light": 6111.0, "humidity": 51.9833984375, "temperature": 20.417812500000004}','{"light": 12591.0, "humidity": 56.8509521484375, "temperature": 17.554211425781254}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790001900000,'{"light": 6092.0, "humidity": 50.90765380859375, "temperature": 20.417812500000004}','{"light": 12734.0, "humidity": 56.90435791015625, "temperature": 17.532761230468743}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790002020000,'{"light": 6078.0, "humidity": 52.03680419921875, "temperature": 20.374912109374996}','{"light": 12876.0, "humidity": 57.140869140625, "temperature": 17.511311035156247}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790002140000,'{"light": 6069.0, "humidity": 50.488037109375, "temperature": 20.364187011718748}','{"light": 13015.0, "humidity": 58.27764892578125, "temperature": 17.54348632812499}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790002260000,'{"light": 6065.0, "humidity": 51.94525146484375, "temperature": 20.40708740234374}','{"light": 13152.0, "humidity": 58.788818359375, "temperature": 17.511311035156247}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790002380000,'{"light": 6065.0, "humidity": 51.97576904296875, "temperature": 20.428537597656252}','{"light": 13286.0, "humidity": 58.43023681640625, "temperature": 17.5005859375}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790002500000,'{"light": 6069.0, "humidity": 51.373046875, "temperature": 20.4392626953125}','{"light": 13417.0, "humidity": 58.33868408203125, "temperature": 17.48986083984375}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790002620000,'{"light": 6078.0, "humidity": 50.5338134765625, "temperature": 20.428537597656252}','{"light": 13545.0, "humidity": 58.3463134765625, "temperature": 17.58638671875}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790002740000,'{"light": 6090.0, "humidity": 51.22808837890625, "temperature": 20.385637207031245}','{"light": 13669.0, "humidity": 58.8040771484375, "temperature": 17.554211425781254}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790002860000,'{"light": 6107.0, "humidity": 50.9000244140625, "temperature": 20.417812500000004}','{"light": 13790.0, "humidity": 56.9425048828125, "temperature": 17.554211425781254}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790002980000,'{"light": 6127.0, "humidity": 52.18939208984375, "temperature": 20.417812500000004}','{"light": 13908.0, "humidity": 57.5833740234375, "temperature": 17.554211425781254}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790003100000,'{"light": 6150.0, "humidity": 50.6864013671875, "temperature": 20.374912109374996}','{"light": 14021.0, "humidity": 58.3463134765625, "temperature": 17.54348632812499}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790003220000,'{"light": 6177.0, "humidity": 51.769775390625, "temperature": 20.385637207031245}','{"light": 14130.0, "humidity": 58.78118896484375, "temperature": 17.564936523437503}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790003340000,'{"light": 6206.0, "humidity": 51.38067626953125, "temperature": 20.417812500000004}','{"light": 14235.0, "humidity": 57.56048583984375, "temperature": 17.511311035156247}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790003460000,'{"light": 6239.0, "humidity": 51.9376220703125, "temperature": 20.364187011718748}','{"light": 14335.0, "humidity": 58.52178955078125, "temperature": 17.554211425781254}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790003580000,'{"light": 6273.0, "humidity": 51.3272705078125, "temperature": 20.396362304687493}','{"light": 14431.0, "humidity": 57.720703125, "temperature": 17.532761230468743}',6);
INSERT INTO "conflicts" VALUES(3,'Station 3',1790003700000,'{"light": 6311.0, "humidity": 52.17413330078125, "temperature": 20.34273681640625}','{"light": 14521.0, "humidity": 57.11798095703125, "temperature": 17.479135742187502}',6);
CREATE TABLE noise_kept (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    peer TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE noise_sources (
    source TEXT PRIMARY KEY,
    connections INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    reason TEXT NOT NULL,
    sample BLOB NOT NULL
);
CREATE TABLE packets (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    peer TEXT NOT NULL,
    data BLOB NOT NULL,
    device_id INTEGER,
    state TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'done', 'kept')),
    reason TEXT
);
INSERT INTO "packets" VALUES(1,1790003636.0,'10.0.0.1:4000',X'B400100E7800060103A381F481245EF1802881345E358030804C5E6F7FB07F485EA17E2C81505EC97DB082405EE97C40804C5E007CD481545E0E7BA880645E147A3882645E1279647F605E08785081545EF67628825C5EDC75A881605EBB745480545E93736C7F745E6372B8805C5E2D71C0825C5EF06F14817C5EAD6E5082645E636D9481685E146C6882705EBF6A2880785E64693C805C5E04685C82785E9F660C825C5E3565EC81605EC7633481645E5462A082645EDD60FC7E705E',1,'done',NULL);
INSERT INTO "packets" VALUES(2,1790007272.0,'10.0.0.1:4000',X'B400100E7800060103635F1080785EE55D287F605E635C0C80605EDF5A947F6C5E5759AC82545ECD5750825C5E4156C881645EB354B8814C5E23538081585E91518480445EFE4FD480645E6A4E4482445ED64C9C81605E404B2C7F505EAB493081505E15483483505E7F46DC7F405EEA44E482385E56433C832C5EC241D882385E3040C4812C5E9F3E1483245E103D5482185E823BB883105EF6396C83045E6D388480FC5DE636C883105E623500830C5EE033C483EC5D62323C83FC5D',1,'done',NULL);
INSERT INTO "packets" VALUES(3,1790010908.0,'10.0.0.1:4000',X'B400100E7800060103E730B882F45D702F3483EC5DFC2D7480D85D8B2C3083D45D1F2BD080D85DB7293C83C05D53283C82C85DF4263882C45D9925B481BC5D4324E881B45DF2221484B05DA6211C84945D5F20AC84905D1D1F8C84905DE01D1C836C5DA91C8485645D781B7484685D4C1A8C82685D26192084585D051800854C5DEB167886485DD61534843C5DC714F083345DBE130C85185DBC12DC861C5DBF114C86005DC8104484085DD80FF083E85CED0EF483E45C090E0884D05C',1,'done',NULL);
INSERT INTO "packets" VALUES(4,1790014544.0,'10.0.0.1:4000',X'5C01100E7800060103FC2D7480D85D8B2C3083D45D1F2BD080D85DB7293C83C05D53283C82C85DF4263882C45D9925B481BC5D4324E881B45DF2221484B05DA6211C84945D5F20AC84905D1D1F8C84905DE01D1C836C5DA91C8485645D781B7484685D4C1A8C82685D26192084585D051800854C5DEB167886485DD61534843C5DC714F083345DBE130C85185DBC12DC861C5DBF114C86005DC8104484085DD80FF083E85CED0EF483E45C090E0884D05C2B0D6486BC5C530C2485AC5C810B9887AC5CB40A4C88A85CEE096C87885C2E093087785C7408F484685CC0073887605C1107F488645C68068C88505CC5057C88385C27058087305C8E04AC86285CFB0310860C5C6E035C89145CE502688AF85B61024C88DC5BE301B486D45B69014089BC5BF300E88ABC5B8200A88AA05B1600388AA05B00002088905B0000B4888C5B00007C8B6C5B00005C8B5C5B0000D08A4C5B00009C8A405B0000EC881C5B0000B8890C5B',1,'done',NULL);
INSERT INTO "packets" VALUES(5,1790003700.0,'10.0.0.3:4000',X'B400100E7800060303D51A1C78D461761AE475D8611D1A5877E061CB19F474D4617F193877D4613919A477F061FA18B4740062C018B47500628C184C77F8615F184C76F4613618D47404621418A0750862F717A474E861DF17C0760062CC178C740062BE17DC76F061B517B073EC61B117AC76FC61B117BC760462B51780750862BE17C8730462CA173475F461DB1788740062EF172C77006206181874F06121185076F4613E18847500625F18A876EC6181186875F861A7182477E461',3,'done',NULL);
INSERT INTO "packets" VALUES(6,1790003700.0,'10.0.0.30:4000',X'B400100E78000603039829A482A45D2D2A7484A45DC22AF483B85D592BFC83AC5DF02B5884BC5D872C5C84A85D1E2DC484C45DB52D2884CC5D4C2E1483D05DE22EC482CC5D772FCC83D45D0B30C484D05D9E302882D05D2F31B880D45DBE31D480CC5D4C325081C45DD732A483D05D6033B084C45DE633F483C05D6934C483BC5DE934C883E05D6535B884D45DDE35E880D45D54363882D45DC536C883D05D3237AC84D85D9B372C82C45DFF372484D45D5F388082CC5DB9384481B85D',3,'done',NULL);
INSERT INTO "packets" VALUES(7,1790003800.0,'10.0.0.4:4000',X'B400100E7800060403E47DE084205D797D24862C5D047DC8823C5D867C1883385DFE7BAC84405D6C7B40853C5DD17A8C85445D2D7A3084485D807918844C5DCA78B885385D0B7880844C5D437750823C5D7276E0823C5D9975DC855C5DB8742084445DCE73E8825C5DDD728483645DE371B883445DE270A884585DD96F1C86485DC96E4C84685DB16D2C83445D936C1C83485D6D6B1C836C5D416A3883685D0F696885605DD76778835C5D98666885585D5465E484505D0A640486585D',4,'done',NULL);
INSERT INTO "packets" VALUES(8,1790003800.0,'10.0.0.40:4000',X'B400100E7800060403E47DE084205D797D24862C5D047DC8823C5D867C1883385DFE7BAC84405D6C7B40853C5DD17A8C85445D2D7A3084485D807918844C5DCA78B885385D0B7880844C5D437750823C5D7276E0823C5D9975DC855C5DB8742084445DCE73E8825C5DDD728483645DE371B883445DE270A884585DD96F1C86485DC96E4C84685DB16D2C83445D936C1C83485D6D6B1C836C5D416A3883685D0F696885605DD76778835C5D98666885585D5465E484505D0A640486585D',4,'done',NULL);
INSERT INTO "packets" VALUES(9,1790003900.0,'10.0.0.5:4000',X'B400100E78000605033A4644700064AC44287008642243047114649C41006E14641940B86F1C64993E806E18641E3DCC703464A63B5C6D2C64333A686F3064C538586F24645B37086F3864F535086E3C64953414',5,'done',NULL);
INSERT INTO "packets" VALUES(10,1790004000.0,'10.0.0.7:4000',X'B400100E78000607020000A04188130000A24192130000A4419C130000A641A6130000A841B0130000C07FBA130000AC41C4130000AE41CE130000B041D8130000B24100000000B441EC130000B641F6130000B84100140000BA410A140000BC4114140000BE411E140000C04128140000C24132140000C4413C140000C64146140000C84150140000CA415A140000CC4164140000CE416E140000D04178140000D24182140000D4418C140000D64196140000D841A0140000DA41AA14',7,'done',NULL);
INSERT INTO "packets" VALUES(11,1790004100.0,'10.0.0.9:4000',X'0800100E78000209010102010201020102',9,'kept','device 9: its reference parser has 6-byte, 3-value records; this packet says 2 and 1: check the station''s parser or fields in the config (byte 6)');
CREATE TABLE rejected (
    sink TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (sink, seq)
);
INSERT INTO "rejected" VALUES('influxdb',2,1790005000.0,'field type conflict');
CREATE TABLE samples (
    seq INTEGER NOT NULL REFERENCES batches (seq),
    device_id INTEGER NOT NULL,
    station TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    "values" TEXT NOT NULL
);
INSERT INTO "samples" VALUES(1,1,'Station 1',1790001116000,'{"light": 31502.0, "humidity": 56.8204345703125, "temperature": 17.94031494140625}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790001236000,'{"light": 31252.0, "humidity": 57.5833740234375, "temperature": 17.94031494140625}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790001356000,'{"light": 30994.0, "humidity": 56.20245361328125, "temperature": 17.92958984375}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790001476000,'{"light": 30728.0, "humidity": 57.140869140625, "temperature": 17.897414550781242}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790001596000,'{"light": 30454.0, "humidity": 57.5528564453125, "temperature": 17.918864746093753}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790001716000,'{"light": 30172.0, "humidity": 57.3087158203125, "temperature": 17.92958984375}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790001836000,'{"light": 29883.0, "humidity": 56.66021728515625, "temperature": 17.897414550781242}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790001956000,'{"light": 29587.0, "humidity": 56.21771240234375, "temperature": 17.983215332031243}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790002076000,'{"light": 29283.0, "humidity": 56.8509521484375, "temperature": 17.918864746093753}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790002196000,'{"light": 28973.0, "humidity": 57.8427734375, "temperature": 17.918864746093753}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790002316000,'{"light": 28656.0, "humidity": 57.02642822265625, "temperature": 18.004665527343754}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790002436000,'{"light": 28333.0, "humidity": 57.629150390625, "temperature": 17.94031494140625}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790002556000,'{"light": 28003.0, "humidity": 57.27056884765625, "temperature": 17.951040039062498}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790002676000,'{"light": 27668.0, "humidity": 57.6749267578125, "temperature": 17.972490234374995}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790002796000,'{"light": 27327.0, "humidity": 56.5762939453125, "temperature": 17.99394042968749}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790002916000,'{"light": 26980.0, "humidity": 56.61444091796875, "temperature": 17.918864746093753}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790003036000,'{"light": 26628.0, "humidity": 57.65203857421875, "temperature": 17.99394042968749}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790003156000,'{"light": 26271.0, "humidity": 57.49945068359375, "temperature": 17.918864746093753}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790003276000,'{"light": 25909.0, "humidity": 57.43841552734375, "temperature": 17.92958984375}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790003396000,'{"light": 25543.0, "humidity": 57.08746337890625, "temperature": 17.94031494140625}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790003516000,'{"light": 25172.0, "humidity": 57.78173828125, "temperature": 17.94031494140625}');
INSERT INTO "samples" VALUES(1,1,'Station 1',1790003636000,'{"light": 24797.0, "humidity": 56.00408935546875, "temperature": 17.972490234374995}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790003757200,'{"light": 24419.0, "humidity": 56.530517578125, "temperature": 17.99394042968749}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790003878400,'{"light": 24037.0, "humidity": 56.0880126953125, "temperature": 17.92958984375}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790003999600,'{"light": 23651.0, "humidity": 56.52288818359375, "temperature": 17.92958984375}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790004120800,'{"light": 23263.0, "humidity": 56.29400634765625, "temperature": 17.961765136718746}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790004242000,'{"light": 22871.0, "humidity": 57.80462646484375, "temperature": 17.897414550781242}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790004363200,'{"light": 22477.0, "humidity": 57.629150390625, "temperature": 17.918864746093753}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790004484400,'{"light": 22081.0, "humidity": 57.3697509765625, "temperature": 17.94031494140625}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790004605600,'{"light": 21683.0, "humidity": 57.3392333984375, "temperature": 17.875964355468746}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790004726800,'{"light": 21283.0, "humidity": 57.232421875, "temperature": 17.908139648437505}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790004848000,'{"light": 20881.0, "humidity": 56.75177001953125, "temperature": 17.85451416015625}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790004969200,'{"light": 20478.0, "humidity": 56.90435791015625, "temperature": 17.94031494140625}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790005090400,'{"light": 20074.0, "humidity": 57.60626220703125, "temperature": 17.85451416015625}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790005211600,'{"light": 19670.0, "humidity": 57.28582763671875, "temperature": 17.92958984375}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790005332800,'{"light": 19264.0, "humidity": 56.09564208984375, "temperature": 17.886689453124994}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790005454000,'{"light": 18859.0, "humidity": 57.079833984375, "temperature": 17.886689453124994}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790005575200,'{"light": 18453.0, "humidity": 58.06402587890625, "temperature": 17.886689453124994}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790005696400,'{"light": 18047.0, "humidity": 56.43133544921875, "temperature": 17.8437890625}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790005817600,'{"light": 17642.0, "humidity": 57.91143798828125, "temperature": 17.822338867187504}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790005938800,'{"light": 17238.0, "humidity": 58.07928466796875, "temperature": 17.790163574218745}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790006060000,'{"light": 16834.0, "humidity": 57.8885498046875, "temperature": 17.822338867187504}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790006181200,'{"light": 16432.0, "humidity": 57.36212158203125, "temperature": 17.790163574218745}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790006302400,'{"light": 16031.0, "humidity": 58.00299072265625, "temperature": 17.76871337890625}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790006423600,'{"light": 15632.0, "humidity": 57.63677978515625, "temperature": 17.736538085937504}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790006544800,'{"light": 15234.0, "humidity": 58.3157958984375, "temperature": 17.715087890624993}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790006666000,'{"light": 14838.0, "humidity": 58.17083740234375, "temperature": 17.682912597656248}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790006787200,'{"light": 14445.0, "humidity": 56.75177001953125, "temperature": 17.66146240234375}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790006908400,'{"light": 14054.0, "humidity": 58.3463134765625, "temperature": 17.715087890624993}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790007029600,'{"light": 13666.0, "humidity": 57.96484375, "temperature": 17.704362792968745}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790007150800,'{"light": 13280.0, "humidity": 58.33868408203125, "temperature": 17.618562011718744}');
INSERT INTO "samples" VALUES(2,1,'Station 1',1790007272000,'{"light": 12898.0, "humidity": 58.07928466796875, "temperature": 17.66146240234375}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790007393200,'{"light": 12519.0, "humidity": 57.8275146484375, "temperature": 17.640012207031255}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790007514400,'{"light": 12144.0, "humidity": 58.06402587890625, "temperature": 17.618562011718744}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790007635600,'{"light": 11772.0, "humidity": 56.72125244140625, "temperature": 17.564936523437503}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790007756800,'{"light": 11403.0, "humidity": 58.056396484375, "temperature": 17.554211425781254}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790007878000,'{"light": 11039.0, "humidity": 56.896728515625, "temperature": 17.564936523437503}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790007999200,'{"light": 10679.0, "humidity": 58.07928466796875, "temperature": 17.5005859375}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790008120400,'{"light": 10323.0, "humidity": 57.59100341796875, "temperature": 17.522036132812495}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790008241600,'{"light": 9972.0, "humidity": 57.5833740234375, "temperature": 17.511311035156247}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790008362800,'{"light": 9625.0, "humidity": 57.33160400390625, "temperature": 17.48986083984375}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790008484000,'{"light": 9283.0, "humidity": 57.4307861328125, "temperature": 17.468410644531254}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790008605200,'{"light": 8946.0, "humidity": 58.49127197265625, "temperature": 17.45768554687499}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790008726400,'{"light": 8614.0, "humidity": 58.50653076171875, "temperature": 17.382609863281253}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790008847600,'{"light": 8287.0, "humidity": 58.78118896484375, "temperature": 17.371884765625005}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790008968800,'{"light": 7965.0, "humidity": 58.72015380859375, "temperature": 17.371884765625005}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790009090000,'{"light": 7648.0, "humidity": 58.01824951171875, "temperature": 17.27535888671874}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790009211200,'{"light": 7337.0, "humidity": 59.19317626953125, "temperature": 17.253908691406245}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790009332400,'{"light": 7032.0, "humidity": 58.67437744140625, "temperature": 17.264633789062493}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790009453600,'{"light": 6732.0, "humidity": 57.74359130859375, "temperature": 17.264633789062493}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790009574800,'{"light": 6438.0, "humidity": 58.51416015625, "temperature": 17.2217333984375}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790009696000,'{"light": 6149.0, "humidity": 58.94140625, "temperature": 17.18955810546874}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790009817200,'{"light": 5867.0, "humidity": 59.6585693359375, "temperature": 17.178833007812493}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790009938400,'{"light": 5590.0, "humidity": 58.55230712890625, "temperature": 17.146657714843748}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790010059600,'{"light": 5319.0, "humidity": 58.422607421875, "temperature": 17.12520751953125}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790010180800,'{"light": 5054.0, "humidity": 58.96429443359375, "temperature": 17.0501318359375}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790010302000,'{"light": 4796.0, "humidity": 59.84930419921875, "temperature": 17.060856933593747}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790010423200,'{"light": 4543.0, "humidity": 59.57464599609375, "temperature": 16.985781249999995}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790010544400,'{"light": 4296.0, "humidity": 58.58282470703125, "temperature": 17.0072314453125}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790010665600,'{"light": 4056.0, "humidity": 58.422607421875, "temperature": 16.9214306640625}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790010786800,'{"light": 3821.0, "humidity": 58.43023681640625, "temperature": 16.91070556640625}');
INSERT INTO "samples" VALUES(3,1,'Station 1',1790010908000,'{"light": 3593.0, "humidity": 58.4683837890625, "temperature": 16.857080078125}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790011029200,'{"light": 3371.0, "humidity": 59.62042236328125, "temperature": 16.803454589843746}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790011150400,'{"light": 3155.0, "humidity": 59.01007080078125, "temperature": 16.760554199218745}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790011271600,'{"light": 2945.0, "humidity": 60.2078857421875, "temperature": 16.760554199218745}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790011392800,'{"light": 2740.0, "humidity": 60.55120849609375, "temperature": 16.749829101562497}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790011514000,'{"light": 2542.0, "humidity": 60.12396240234375, "temperature": 16.664028320312497}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790011635200,'{"light": 2350.0, "humidity": 60.009521484375, "temperature": 16.621127929687496}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790011756400,'{"light": 2164.0, "humidity": 58.91851806640625, "temperature": 16.578227539062496}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790011877600,'{"light": 1984.0, "humidity": 60.0247802734375, "temperature": 16.55677734375}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790011998800,'{"light": 1809.0, "humidity": 60.87164306640625, "temperature": 16.567502441406248}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790012120000,'{"light": 1640.0, "humidity": 60.67327880859375, "temperature": 16.513876953125}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790012241200,'{"light": 1477.0, "humidity": 60.64276123046875, "temperature": 16.449526367187495}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790012362400,'{"light": 1319.0, "humidity": 60.162109375, "temperature": 16.428076171875}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790012483600,'{"light": 1166.0, "humidity": 59.75775146484375, "temperature": 16.406625976562495}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790012604800,'{"light": 1019.0, "humidity": 59.460205078125, "temperature": 16.33155029296875}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790012726000,'{"light": 878.0, "humidity": 61.07000732421875, "temperature": 16.353000488281246}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790012847200,'{"light": 741.0, "humidity": 61.5811767578125, "temperature": 16.2779248046875}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790012968400,'{"light": 609.0, "humidity": 60.55120849609375, "temperature": 16.20284912109375}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790013089600,'{"light": 483.0, "humidity": 59.77301025390625, "temperature": 16.181398925781245}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790013210800,'{"light": 361.0, "humidity": 61.0166015625, "temperature": 16.11704833984375}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790013332000,'{"light": 243.0, "humidity": 61.8253173828125, "temperature": 16.11704833984375}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790013453200,'{"light": 130.0, "humidity": 61.7032470703125, "temperature": 16.041972656249996}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790013574400,'{"light": 22.0, "humidity": 61.4896240234375, "temperature": 16.041972656249996}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790013695600,'{"light": 0.0, "humidity": 60.46728515625, "temperature": 15.999072265624996}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790013816800,'{"light": 0.0, "humidity": 60.74957275390625, "temperature": 15.988347167968747}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790013938000,'{"light": 0.0, "humidity": 62.10760498046875, "temperature": 15.902546386718747}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790014059200,'{"light": 0.0, "humidity": 62.04656982421875, "temperature": 15.859645996093747}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790014180400,'{"light": 0.0, "humidity": 61.779541015625, "temperature": 15.816745605468746}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790014301600,'{"light": 0.0, "humidity": 61.68035888671875, "temperature": 15.784570312500001}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790014422800,'{"light": 0.0, "humidity": 60.85638427734375, "temperature": 15.688044433593745}');
INSERT INTO "samples" VALUES(4,1,'Station 1',1790014544000,'{"light": 0.0, "humidity": 61.2454833984375, "temperature": 15.645144042968745}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790001060000,'{"light": 6336.0, "humidity": 51.47222900390625, "temperature": 20.417812500000004}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790001180000,'{"light": 6284.0, "humidity": 52.25042724609375, "temperature": 20.396362304687493}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790001300000,'{"light": 6239.0, "humidity": 51.76214599609375, "temperature": 20.385637207031245}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790001420000,'{"light": 6198.0, "humidity": 51.04498291015625, "temperature": 20.428537597656252}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790001540000,'{"light": 6164.0, "humidity": 51.43408203125, "temperature": 20.4392626953125}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790001660000,'{"light": 6135.0, "humidity": 50.95343017578125, "temperature": 20.3534619140625}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790001780000,'{"light": 6111.0, "humidity": 51.9833984375, "temperature": 20.417812500000004}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790001900000,'{"light": 6092.0, "humidity": 50.90765380859375, "temperature": 20.417812500000004}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790002020000,'{"light": 6078.0, "humidity": 52.03680419921875, "temperature": 20.374912109374996}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790002140000,'{"light": 6069.0, "humidity": 50.488037109375, "temperature": 20.364187011718748}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790002260000,'{"light": 6065.0, "humidity": 51.94525146484375, "temperature": 20.40708740234374}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790002380000,'{"light": 6065.0, "humidity": 51.97576904296875, "temperature": 20.428537597656252}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790002500000,'{"light": 6069.0, "humidity": 51.373046875, "temperature": 20.4392626953125}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790002620000,'{"light": 6078.0, "humidity": 50.5338134765625, "temperature": 20.428537597656252}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790002740000,'{"light": 6090.0, "humidity": 51.22808837890625, "temperature": 20.385637207031245}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790002860000,'{"light": 6107.0, "humidity": 50.9000244140625, "temperature": 20.417812500000004}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790002980000,'{"light": 6127.0, "humidity": 52.18939208984375, "temperature": 20.417812500000004}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790003100000,'{"light": 6150.0, "humidity": 50.6864013671875, "temperature": 20.374912109374996}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790003220000,'{"light": 6177.0, "humidity": 51.769775390625, "temperature": 20.385637207031245}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790003340000,'{"light": 6206.0, "humidity": 51.38067626953125, "temperature": 20.417812500000004}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790003460000,'{"light": 6239.0, "humidity": 51.9376220703125, "temperature": 20.364187011718748}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790003580000,'{"light": 6273.0, "humidity": 51.3272705078125, "temperature": 20.396362304687493}');
INSERT INTO "samples" VALUES(5,3,'Station 3',1790003700000,'{"light": 6311.0, "humidity": 52.17413330078125, "temperature": 20.34273681640625}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790001040000,'{"light": 31441.0, "humidity": 59.20843505859375, "temperature": 17.168107910156245}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790001160000,'{"light": 31277.0, "humidity": 58.544677734375, "temperature": 17.178833007812493}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790001280000,'{"light": 31104.0, "humidity": 58.4989013671875, "temperature": 17.18955810546874}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790001400000,'{"light": 30922.0, "humidity": 59.2923583984375, "temperature": 17.1359326171875}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790001520000,'{"light": 30731.0, "humidity": 58.697265625, "temperature": 17.18955810546874}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790001640000,'{"light": 30531.0, "humidity": 57.629150390625, "temperature": 17.146657714843748}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790001760000,'{"light": 30322.0, "humidity": 57.90380859375, "temperature": 17.146657714843748}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790001880000,'{"light": 30105.0, "humidity": 59.36102294921875, "temperature": 17.23245849609375}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790002000000,'{"light": 29880.0, "humidity": 58.51416015625, "temperature": 17.168107910156245}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790002120000,'{"light": 29646.0, "humidity": 57.9190673828125, "temperature": 17.23245849609375}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790002240000,'{"light": 29405.0, "humidity": 58.21661376953125, "temperature": 17.253908691406245}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790002360000,'{"light": 29155.0, "humidity": 58.3157958984375, "temperature": 17.168107910156245}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790002480000,'{"light": 28898.0, "humidity": 58.7735595703125, "temperature": 17.2217333984375}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790002600000,'{"light": 28633.0, "humidity": 59.48309326171875, "temperature": 17.178833007812493}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790002720000,'{"light": 28361.0, "humidity": 58.59808349609375, "temperature": 17.264633789062493}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790002840000,'{"light": 28081.0, "humidity": 58.04876708984375, "temperature": 17.168107910156245}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790002960000,'{"light": 27795.0, "humidity": 58.01824951171875, "temperature": 17.178833007812493}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790003080000,'{"light": 27501.0, "humidity": 58.01824951171875, "temperature": 17.27535888671874}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790003200000,'{"light": 27201.0, "humidity": 58.0716552734375, "temperature": 17.264633789062493}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790003320000,'{"light": 26895.0, "humidity": 59.1397705078125, "temperature": 17.243183593749997}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790003440000,'{"light": 26583.0, "humidity": 58.1937255859375, "temperature": 17.23245849609375}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790003560000,'{"light": 26264.0, "humidity": 59.1397705078125, "temperature": 17.2217333984375}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790003680000,'{"light": 25940.0, "humidity": 58.88800048828125, "temperature": 17.200283203125004}');
INSERT INTO "samples" VALUES(7,4,'Station 4',1790003800000,'{"light": 25610.0, "humidity": 59.43731689453125, "temperature": 17.2217333984375}');
INSERT INTO "samples" VALUES(9,5,'Station 5',1790001020000,'{"light": 16025.0, "humidity": 47.955078125, "temperature": 21.854975585937503}');
INSERT INTO "samples" VALUES(9,5,'Station 5',1790001140000,'{"light": 15646.0, "humidity": 49.07659912109375, "temperature": 21.930051269531255}');
INSERT INTO "samples" VALUES(9,5,'Station 5',1790001260000,'{"light": 15270.0, "humidity": 47.39813232421875, "temperature": 21.908601074218744}');
INSERT INTO "samples" VALUES(9,5,'Station 5',1790001380000,'{"light": 14899.0, "humidity": 48.3975830078125, "temperature": 21.919326171874992}');
INSERT INTO "samples" VALUES(9,5,'Station 5',1790001500000,'{"light": 14533.0, "humidity": 48.3670654296875, "temperature": 21.887150878906247}');
INSERT INTO "samples" VALUES(9,5,'Station 5',1790001620000,'{"light": 14171.0, "humidity": 48.2144775390625, "temperature": 21.940776367187503}');
INSERT INTO "samples" VALUES(9,5,'Station 5',1790001740000,'{"light": 13813.0, "humidity": 47.7261962890625, "temperature": 21.95150146484375}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790001000000,'{"temperature": 21.0, "humidity": 50.4, "dew_point": 10.300310114650644}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790001120000,'{"humidity": 50.5}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790001240000,'{"temperature": 21.5, "humidity": 50.6, "dew_point": 10.820141741392495}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790001360000,'{"temperature": 21.75, "humidity": 50.7, "dew_point": 11.080115261416704}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790001480000,'{"temperature": 22.0, "humidity": 50.800000000000004, "dew_point": 11.34012734168229}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790001600000,'{"temperature": 22.25, "humidity": 0.0}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790001720000,'{"temperature": 22.5, "humidity": 51.0, "dew_point": 11.860267449098318}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790001840000,'{"temperature": 22.75, "humidity": 51.1, "dew_point": 12.120395608811759}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790001960000,'{"temperature": 23.0, "humidity": 51.2, "dew_point": 12.380562593896123}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790002080000,'{"temperature": 23.25, "humidity": 51.300000000000004, "dew_point": 12.640768470123504}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790002200000,'{"temperature": 23.5, "humidity": 51.4, "dew_point": 12.901013303065387}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790002320000,'{"temperature": 23.75, "humidity": 51.5, "dew_point": 13.161297158094325}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790002440000,'{"temperature": 24.0, "humidity": 51.6, "dew_point": 13.421620100385672}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790002560000,'{"temperature": 24.25, "humidity": 51.7, "dew_point": 13.681982194919264}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790002680000,'{"temperature": 24.5, "humidity": 51.800000000000004, "dew_point": 13.942383506481054}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790002800000,'{"temperature": 24.75, "humidity": 51.9, "dew_point": 14.202824099664788}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790002920000,'{"temperature": 25.0, "humidity": 52.0, "dew_point": 14.463304038873623}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790003040000,'{"temperature": 25.25, "humidity": 52.1, "dew_point": 14.723823388321746}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790003160000,'{"temperature": 25.5, "humidity": 52.2, "dew_point": 14.984382212035973}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790003280000,'{"temperature": 25.75, "humidity": 52.300000000000004, "dew_point": 15.244980573857326}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790003400000,'{"temperature": 26.0, "humidity": 52.4, "dew_point": 15.50561853744262}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790003520000,'{"temperature": 26.25, "humidity": 52.5, "dew_point": 15.766296166265974}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790003640000,'{"temperature": 26.5, "humidity": 52.6, "dew_point": 16.027013523620393}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790003760000,'{"temperature": 26.75, "humidity": 52.7, "dew_point": 16.287770672619256}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790003880000,'{"temperature": 27.0, "humidity": 52.800000000000004, "dew_point": 16.54856767619785}');
INSERT INTO "samples" VALUES(10,7,'Greenhouse',1790004000000,'{"temperature": 27.25, "humidity": 52.9, "dew_point": 16.80940459711485}');
CREATE TABLE sink_progress (
    sink TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
INSERT INTO "sink_progress" VALUES('influxdb',10);
INSERT INTO "sink_progress" VALUES('mqtt',3);
CREATE TABLE stations (
    device_id INTEGER PRIMARY KEY,
    clock TEXT NOT NULL,
    last_arrival REAL NOT NULL
);
INSERT INTO "stations" VALUES(1,'{"clock_factor": 1.01, "last": {"arrival": 1790014544.0, "stamps": [1790007635.6, 1790007756.8, 1790007878.0, 1790007999.2, 1790008120.4, 1790008241.6, 1790008362.8, 1790008484.0, 1790008605.2, 1790008726.4, 1790008847.6, 1790008968.8, 1790009090.0, 1790009211.2, 1790009332.4, 1790009453.6, 1790009574.8, 1790009696.0, 1790009817.2, 1790009938.4, 1790010059.6, 1790010180.8, 1790010302.0, 1790010423.2, 1790010544.4, 1790010665.6, 1790010786.8, 1790010908.0, 1790011029.2, 1790011150.4, 1790011271.6, 1790011392.8, 1790011514.0, 1790011635.2, 1790011756.4, 1790011877.6, 1790011998.8, 1790012120.0, 1790012241.2, 1790012362.4, 1790012483.6, 1790012604.8, 1790012726.0, 1790012847.2, 1790012968.4, 1790013089.6, 1790013210.8, 1790013332.0, 1790013453.2, 1790013574.4, 1790013695.6, 1790013816.8, 1790013938.0, 1790014059.2, 1790014180.4, 1790014301.6, 1790014422.8, 1790014544.0], "records": ["fc2d7480d85d", "8b2c3083d45d", "1f2bd080d85d", "b7293c83c05d", "53283c82c85d", "f4263882c45d", "9925b481bc5d", "4324e881b45d", "f2221484b05d", "a6211c84945d", "5f20ac84905d", "1d1f8c84905d", "e01d1c836c5d", "a91c8485645d", "781b7484685d", "4c1a8c82685d", "26192084585d", "051800854c5d", "eb167886485d", "d61534843c5d", "c714f083345d", "be130c85185d", "bc12dc861c5d", "bf114c86005d", "c8104484085d", "d80ff083e85c", "ed0ef483e45c", "090e0884d05c", "2b0d6486bc5c", "530c2485ac5c", "810b9887ac5c", "b40a4c88a85c", "ee096c87885c", "2e093087785c", "7408f484685c", "c0073887605c", "1107f488645c", "68068c88505c", "c5057c88385c", "27058087305c", "8e04ac86285c", "fb0310860c5c", "6e035c89145c", "e502688af85b", "61024c88dc5b", "e301b486d45b", "69014089bc5b", "f300e88abc5b", "8200a88aa05b", "1600388aa05b", "00002088905b", "0000b4888c5b", "00007c8b6c5b", "00005c8b5c5b", "0000d08a4c5b", "00009c8a405b", "0000ec881c5b", "0000b8890c5b"]}}',1790014544.0);
INSERT INTO "stations" VALUES(3,'{"clock_factor": 1.0, "last": {"arrival": 1790003700.0, "stamps": [1790000220.0, 1790000340.0, 1790000460.0, 1790000580.0, 1790000700.0, 1790000820.0, 1790000940.0, 1790001060.0, 1790001180.0, 1790001300.0, 1790001420.0, 1790001540.0, 1790001660.0, 1790001780.0, 1790001900.0, 1790002020.0, 1790002140.0, 1790002260.0, 1790002380.0, 1790002500.0, 1790002620.0, 1790002740.0, 1790002860.0, 1790002980.0, 1790003100.0, 1790003220.0, 1790003340.0, 1790003460.0, 1790003580.0, 1790003700.0], "records": ["d51a1c78d461", "761ae475d861", "1d1a5877e061", "cb19f474d461", "7f193877d461", "3919a477f061", "fa18b4740062", "c018b4750062", "8c184c77f861", "5f184c76f461", "3618d4740462", "1418a0750862", "f717a474e861", "df17c0760062", "cc178c740062", "be17dc76f061", "b517b073ec61", "b117ac76fc61", "b117bc760462", "b51780750862", "be17c8730462", "ca173475f461", "db1788740062", "ef172c770062", "06181874f061", "21185076f461", "3e1884750062", "5f18a876ec61", "81186875f861", "a7182477e461"]}}',1790003700.0);
INSERT INTO "stations" VALUES(4,'{"clock_factor": 1.0, "last": {"arrival": 1790003800.0, "stamps": [1790000320.0, 1790000440.0, 1790000560.0, 1790000680.0, 1790000800.0, 1790000920.0, 1790001040.0, 1790001160.0, 1790001280.0, 1790001400.0, 1790001520.0, 1790001640.0, 1790001760.0, 1790001880.0, 1790002000.0, 1790002120.0, 1790002240.0, 1790002360.0, 1790002480.0, 1790002600.0, 1790002720.0, 1790002840.0, 1790002960.0, 1790003080.0, 1790003200.0, 1790003320.0, 1790003440.0, 1790003560.0, 1790003680.0, 1790003800.0], "records": ["e47de084205d", "797d24862c5d", "047dc8823c5d", "867c1883385d", "fe7bac84405d", "6c7b40853c5d", "d17a8c85445d", "2d7a3084485d", "807918844c5d", "ca78b885385d", "0b7880844c5d", "437750823c5d", "7276e0823c5d", "9975dc855c5d", "b8742084445d", "ce73e8825c5d", "dd728483645d", "e371b883445d", "e270a884585d", "d96f1c86485d", "c96e4c84685d", "b16d2c83445d", "936c1c83485d", "6d6b1c836c5d", "416a3883685d", "0f696885605d", "d76778835c5d", "98666885585d", "5465e484505d", "0a640486585d"]}}',1790003800.0);
INSERT INTO "stations" VALUES(5,'{"clock_factor": 1.0, "last": {"arrival": 1790003900.0, "stamps": [1790000420.0, 1790000540.0, 1790000660.0, 1790000780.0, 1790000900.0, 1790001020.0, 1790001140.0, 1790001260.0, 1790001380.0, 1790001500.0, 1790001620.0, 1790001740.0, 1790001860.0, 1790001980.0, 1790002100.0, 1790002220.0, 1790002340.0, 1790002460.0, 1790002580.0, 1790002700.0, 1790002820.0, 1790002940.0, 1790003060.0, 1790003180.0, 1790003300.0, 1790003420.0, 1790003540.0, 1790003660.0, 1790003780.0, 1790003900.0], "records": ["3a4644700064", "ac4428700864", "224304711464", "9c41006e1464", "1940b86f1c64", "993e806e1864", "1e3dcc703464", "a63b5c6d2c64", "333a686f3064", "c538586f2464", "5b37086f3864", "f535086e3c64"]}}',1790003900.0);
INSERT INTO "stations" VALUES(7,'{"clock_factor": 1.0, "last": {"arrival": 1790004000.0, "stamps": [1790000520.0, 1790000640.0, 1790000760.0, 1790000880.0, 1790001000.0, 1790001120.0, 1790001240.0, 1790001360.0, 1790001480.0, 1790001600.0, 1790001720.0, 1790001840.0, 1790001960.0, 1790002080.0, 1790002200.0, 1790002320.0, 1790002440.0, 1790002560.0, 1790002680.0, 1790002800.0, 1790002920.0, 1790003040.0, 1790003160.0, 1790003280.0, 1790003400.0, 1790003520.0, 1790003640.0, 1790003760.0, 1790003880.0, 1790004000.0], "records": ["0000a0418813", "0000a2419213", "0000a4419c13", "0000a641a613", "0000a841b013", "0000c07fba13", "0000ac41c413", "0000ae41ce13", "0000b041d813", "0000b2410000", "0000b441ec13", "0000b641f613", "0000b8410014", "0000ba410a14", "0000bc411414", "0000be411e14", "0000c0412814", "0000c2413214", "0000c4413c14", "0000c6414614", "0000c8415014", "0000ca415a14", "0000cc416414", "0000ce416e14", "0000d0417814", "0000d2418214", "0000d4418c14", "0000d6419614", "0000d841a014", "0000da41aa14"]}}',1790004000.0);
CREATE INDEX packets_by_state ON packets (state, id);
CREATE UNIQUE INDEX packets_by_arrival ON packets (received_at, peer, data);
CREATE INDEX samples_by_seq ON samples (seq);
CREATE UNIQUE INDEX samples_by_time ON samples (device_id, time_ms);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('batches',10);
COMMIT;
PRAGMA user_version=2;

"""The running bridge, as parts with one job each, their collaborators passed in
when they are built: receiving (the stations' TCP connections), and the parts
after it."""

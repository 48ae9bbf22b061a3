package segments

// ReadBuffer is the size of the read buffer (bufio.NewReaderSize) for an
// object of size bytes: the object itself, between 4 KiB and 256 KiB.
// Reading a history of many small segments allocates per segment what the
// segment needs, not 256 KiB each (100,000 one-second segments were 25 GB
// of buffers over a restore, and the garbage collector's work grew with
// them).
func ReadBuffer(size int64) int {
	return int(min(max(size+1, 4<<10), 256<<10))
}

// rawBuffer is the buffer between a payload's decoder and the frame
// reader: the raw length and a byte, between 4 KiB and 64 KiB.
func rawBuffer(rawLen uint64) int {
	return int(min(max(rawLen+1, 4<<10), 64<<10))
}

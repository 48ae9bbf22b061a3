package segments

// ReadBuffer is the size of the read buffer (bufio.NewReaderSize) for an
// object of size bytes: the object itself, between 512 bytes and 256 KiB.
// Reading a history of many small segments allocates per segment what the
// segment needs, not 256 KiB each (100,000 one-second segments were 25 GB
// of buffers over a restore, and the garbage collector's work grew with
// them). The floor was 4 KiB: two such buffers were two thirds of what a
// restore allocated per one-second segment (12.5 KB, now 5.3 KB), and the
// collections they caused a fifth of its time.
func ReadBuffer(size int64) int {
	return int(min(max(size+1, 512), 256<<10))
}

// rawBuffer is the buffer between a payload's decoder and the frame
// reader: the raw length and a byte, between 512 bytes and 64 KiB.
func rawBuffer(rawLen uint64) int {
	return int(min(max(rawLen+1, 512), 64<<10))
}

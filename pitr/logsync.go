package pitr

import (
	"fmt"
	"os"
	"sync"
)

// syncAhead is how many finished log files may wait for their fsync while
// the writer fills the next one. It bounds the restore's dirty page cache
// to about (syncAhead+1) * SegmentSize and makes the writer wait when the
// disk is slower than decoding.
const syncAhead = 2

// fileSyncer fsyncs and closes a restored log's finished files on its own
// goroutine, in the order they were finished, so that the disk writes one
// file back while the writer decodes and writes the next (a restore's
// writer used to spend about half its time in fsync). The restore installs
// nothing before wait has returned nil: every file is then on disk.
type fileSyncer struct {
	files chan *os.File
	done  chan struct{}

	mu  sync.Mutex
	err error // the first fsync or close failure
}

func startSyncer() *fileSyncer {
	s := &fileSyncer{files: make(chan *os.File, syncAhead), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *fileSyncer) run() {
	defer close(s.done)
	for f := range s.files {
		if s.failed() != nil { // the restore fails anyway: just close
			f.Close()
			continue
		}
		err := f.Sync()
		if err != nil {
			err = fmt.Errorf("fsync log file %s: %w", f.Name(), err)
		}
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close log file %s: %w", f.Name(), cerr)
		}
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
		}
	}
}

func (s *fileSyncer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// add queues f, waiting while syncAhead files wait already. It returns an
// earlier file's failure, if any (f is then closed as well).
func (s *fileSyncer) add(f *os.File) error {
	s.files <- f
	return s.failed()
}

// wait closes the queue, waits until every queued file is fsynced and
// closed, and returns the first failure. Call it once.
func (s *fileSyncer) wait() error {
	close(s.files)
	<-s.done
	return s.failed()
}

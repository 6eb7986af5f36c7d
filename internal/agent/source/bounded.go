package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Default bounds of a fetch (see Options).
const (
	DefaultMaxFetchBytes  = 128 << 20
	DefaultMaxFileBytes   = 3 << 20
	DefaultMaxFolderBytes = 64 << 20
)

// ErrTooLarge marks a commit whose fetch or files exceed the Source's bounds.
// It is the commit's fault, not the remote's: the head is not fetched again
// until the branch moves.
var ErrTooLarge = errors.New("state repository commit too large")

// boundedStorage is an in-memory object store that takes a fetched pack
// through its own writer, so that the bytes read from the remote and the
// objects they inflate to are bounded: a pack over limit bytes stops the
// fetch at that point, and objects whose sizes add up to more than 4×limit
// are refused before they are inflated.
type boundedStorage struct {
	*memory.Storage
	limit int64
}

func newBoundedStorage(limit int64) *boundedStorage {
	return &boundedStorage{Storage: memory.NewStorage(), limit: limit}
}

// PackfileWriter makes go-git hand over the raw pack stream (see
// storer.PackfileWriter) instead of parsing it into the store unchecked.
func (s *boundedStorage) PackfileWriter() (io.WriteCloser, error) {
	return &packWriter{s: s}, nil
}

type packWriter struct {
	s   *boundedStorage
	buf bytes.Buffer
	// over is set once the pack passed the limit: what is kept is dropped
	// and the rest of the stream is read and thrown away.
	over error
}

// Write keeps the pack until it passes the limit; after that it reads the
// rest of the stream and drops it, and Close fails with ErrTooLarge. It
// does not fail the write itself: a file:// remote is a git upload-pack
// child process, and go-git waits for that process to exit when it closes
// the fetch, while the process waits for someone to read its output: an
// error here would hang the fetch forever. Memory stays bounded either way.
func (w *packWriter) Write(p []byte) (int, error) {
	if w.over != nil {
		return len(p), nil
	}
	if int64(w.buf.Len()+len(p)) > w.s.limit {
		w.over = fmt.Errorf("%w: the fetch read more than %d bytes from the remote", ErrTooLarge, w.s.limit)
		w.buf = bytes.Buffer{}
		return len(p), nil
	}
	return w.buf.Write(p)
}

// Close parses the pack into the store, refusing objects once their
// declared sizes add up to more than 4× the pack limit.
func (w *packWriter) Close() error {
	if w.over != nil {
		return w.over
	}
	if w.buf.Len() == 0 {
		return nil
	}
	obs := &sizeObserver{limit: 4 * w.s.limit}
	p, err := packfile.NewParserWithStorage(packfile.NewScanner(bytes.NewReader(w.buf.Bytes())), w.s.Storage, obs)
	if err != nil {
		return err
	}
	_, err = p.Parse()
	return err
}

// sizeObserver adds up the inflated sizes the pack declares.
type sizeObserver struct{ limit, total int64 }

func (o *sizeObserver) OnHeader(uint32) error { return nil }

func (o *sizeObserver) OnInflatedObjectHeader(_ plumbing.ObjectType, size, _ int64) error {
	if o.total += size; o.total > o.limit {
		return fmt.Errorf("%w: the fetched objects inflate to more than %d bytes", ErrTooLarge, o.limit)
	}
	return nil
}

func (o *sizeObserver) OnInflatedObjectContent(plumbing.Hash, int64, uint32, []byte) error {
	return nil
}

func (o *sizeObserver) OnFooter(plumbing.Hash) error { return nil }

var _ storer.PackfileWriter = (*boundedStorage)(nil)

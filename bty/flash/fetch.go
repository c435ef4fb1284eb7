package flash

import (
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"sync/atomic"

	"github.com/bty-lab/bty/bty/progress"
)

// fetchPipe reads the source on its own goroutine and hashes what it read on
// another, so fetching, hashing, decoding and writing each get a core when
// one is free. Reads from the pipe return the source's bytes in order.
type fetchPipe struct {
	pool  chan *piece
	data  chan *piece
	hashq chan *piece
	stop  chan struct{}
	hdone chan struct{}
	h     hash.Hash
	n     atomic.Int64
	err   error // the source's error other than io.EOF; set before data closes

	cur *piece
	pos int
}

type piece struct {
	buf  []byte
	n    int
	refs atomic.Int32
}

var errStopped = errors.New("fetch stopped")

const (
	pieceSize   = 1 << 20
	piecesAhead = 8
)

// newFetchPipe starts fetching src. With a nil h nothing is hashed: a flash
// with no digest to check runs at the speed of the disk.
func newFetchPipe(src io.Reader, h hash.Hash, counter *progress.Counter) *fetchPipe {
	p := &fetchPipe{
		pool:  make(chan *piece, piecesAhead),
		data:  make(chan *piece, piecesAhead),
		hashq: make(chan *piece, piecesAhead),
		stop:  make(chan struct{}),
		hdone: make(chan struct{}),
		h:     h,
	}
	for range piecesAhead {
		p.pool <- &piece{buf: make([]byte, pieceSize)}
	}
	go p.fetch(src, counter)
	go p.hash()
	return p
}

func (p *fetchPipe) fetch(src io.Reader, counter *progress.Counter) {
	defer close(p.hashq)
	defer close(p.data)
	for {
		var pc *piece
		select {
		case pc = <-p.pool:
		case <-p.stop:
			return
		}
		n, err := fill(src, pc.buf)
		if n > 0 {
			pc.n = n
			pc.refs.Store(2) // the hasher and the reader
			p.n.Add(int64(n))
			counter.Add(int64(n))
			p.hashq <- pc // never blocks: as many slots as pieces
			select {
			case p.data <- pc:
			case <-p.stop:
				return
			}
		} else {
			p.pool <- pc
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.err = err
			}
			return
		}
	}
}

func (p *fetchPipe) hash() {
	defer close(p.hdone)
	for pc := range p.hashq {
		if p.h != nil {
			p.h.Write(pc.buf[:pc.n])
		}
		p.release(pc)
	}
}

func (p *fetchPipe) release(pc *piece) {
	if pc.refs.Add(-1) == 0 {
		p.pool <- pc
	}
}

// Read returns the source's bytes in order, then its error or io.EOF.
func (p *fetchPipe) Read(b []byte) (int, error) {
	if p.cur == nil {
		var pc *piece
		var ok bool
		select {
		case pc, ok = <-p.data:
		case <-p.stop:
			return 0, errStopped
		}
		if !ok {
			if p.err != nil {
				return 0, p.err
			}
			return 0, io.EOF
		}
		p.cur, p.pos = pc, 0
	}
	n := copy(b, p.cur.buf[p.pos:p.cur.n])
	p.pos += n
	if p.pos == p.cur.n {
		p.release(p.cur)
		p.cur = nil
	}
	return n, nil
}

// Fetched is the number of bytes read from the source so far.
func (p *fetchPipe) Fetched() int64 { return p.n.Load() }

// Sum waits until everything fetched is hashed and returns the digest ("" if
// not hashing). Call it only after Read returned io.EOF.
func (p *fetchPipe) Sum() string {
	<-p.hdone
	if p.h == nil {
		return ""
	}
	return hex.EncodeToString(p.h.Sum(nil))
}

// Close stops fetching early; the caller still closes the source.
func (p *fetchPipe) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
}

//go:build etcd

package etcd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedforge/discovery/core"
)

// watchMux runs the service watches of one driver over one etcd Watch
// stream, as clientv3 does, so that a process costs the etcd server one
// stream whatever the number of services it watches, and a broken stream
// resumes every watch from its next revision without reading lists again.
//
// Unlike clientv3, which passes a response through three goroutines (stream
// reader, dispatcher, per-watch sender) before its channel, the stream's
// reader queues it straight for the service's watch loop: one hand-off,
// which lets a change reach core's subscribers as soon as a raw client's
// watch has it (BenchmarkPropagation).
type watchMux struct {
	d      *driver
	mu     sync.Mutex // guards cur and nextID
	cur    *muxStream // the stream new watches join; nil when none is open
	nextID int64      // watch IDs are ours (etcd ≥ 3.4), never reused
}

// muxStream is the shared stream and the watches on it. Its gRPC stream is
// replaced when it breaks; the muxStream ends when its last watch leaves,
// when the driver closes, or on an error that resuming cannot cure.
type muxStream struct {
	ctx    context.Context // every gRPC stream of this muxStream
	cancel context.CancelFunc
	sendMu sync.Mutex // one sender at a time; creates sent in pending's order

	mu      sync.Mutex
	stream  pb.Watch_WatchClient // nil while reconnecting
	watches map[int64]*muxWatch
	pending []*muxWatch // creates sent and not yet answered, oldest first
	err     error       // why the muxStream ended; nil while it is up
}

// muxWatch is one service's watch on the shared stream: the reader queues
// responses here and wakes the watcher.
type muxWatch struct {
	id       int64
	prefix   string
	progress bool // ask etcd for progress notifications
	// from is the revision to resume from: after the last event or progress
	// notification given, or after the revision the watch was created at
	// when it started "from now" (0). created: the creation was reported.
	// Both guarded by the muxStream's mu.
	from    int64
	created bool
	sentOn  pb.Watch_WatchClient // the stream its create went on (guarded likewise)
	wake    chan struct{}
	stream  *muxStream

	mu    sync.Mutex
	queue []*pb.WatchResponse
	err   error // the watch ended; set once, reported after the queue
}

var errWatchReleased = errors.New("etcd watch closed")

// Reconnecting a broken stream backs off from muxRetryBase up to
// muxRetryCap, with jitter, so clients do not come back all at once.
const (
	muxRetryBase = 100 * time.Millisecond
	muxRetryCap  = 2 * time.Second
)

func newWatchMux(d *driver) *watchMux { return &watchMux{d: d} }

// watch starts a watch of prefix from revision rev (0: from now) on the
// shared stream, opening it if none is up. The watch's first response is its
// creation; a resumed watch does not report it again.
func (m *watchMux) watch(ctx context.Context, prefix string, rev int64, progress bool) (*muxWatch, error) {
	for {
		m.mu.Lock()
		if s := m.cur; s != nil && s.up() {
			w := m.join(s, prefix, rev, progress)
			m.mu.Unlock()
			s.create(w)
			return w, nil
		}
		m.mu.Unlock()
		// Opening may wait on the network (and on an auth token): not
		// under the lock, which other watches' Close needs.
		s, err := m.open(ctx)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		if m.cur == nil || !m.cur.up() {
			m.cur = s
			w := m.join(s, prefix, rev, progress)
			m.mu.Unlock()
			s.create(w)
			return w, nil
		}
		m.mu.Unlock()
		s.cancel() // another watch opened one meanwhile: join that
	}
}

// join adds a watch to s. m.mu must be held.
func (m *watchMux) join(s *muxStream, prefix string, rev int64, progress bool) *muxWatch {
	m.nextID++
	w := &muxWatch{id: m.nextID, prefix: prefix, from: rev, progress: progress, stream: s, wake: make(chan struct{}, 1)}
	s.mu.Lock()
	s.watches[w.id] = w
	s.mu.Unlock()
	return w
}

// open starts a muxStream and its reader. Its streams carry
// WithRequireLeader: a member cut off from its cluster ends them instead of
// going silent, so core reads the lists again from a healthy member.
func (m *watchMux) open(ctx context.Context) (*muxStream, error) {
	d := m.d
	sctx, cancel := context.WithCancel(clientv3.WithRequireLeader(d.ctx))
	// The muxStream lives as long as its watches; only its opening is
	// bounded by ctx.
	stop := context.AfterFunc(ctx, cancel)
	stream, err := dialWatch(sctx, d)
	if !stop() {
		cancel()
		return nil, ctx.Err()
	}
	if err != nil {
		cancel()
		return nil, rpctypes.Error(err)
	}
	s := &muxStream{ctx: sctx, cancel: cancel, stream: stream, watches: map[int64]*muxWatch{}}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		cancel()
		return nil, core.ErrClosed
	}
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		s.run(d)
	}()
	return s, nil
}

func dialWatch(ctx context.Context, d *driver) (pb.Watch_WatchClient, error) {
	// No receive limit, as in clientv3: a large batch of events is not an error.
	return pb.NewWatchClient(d.cli.ActiveConnection()).Watch(ctx, grpc.MaxCallRecvMsgSize(math.MaxInt32))
}

func createRequest(w *muxWatch) *pb.WatchRequest {
	return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte(w.prefix), RangeEnd: []byte(clientv3.GetPrefixRangeEnd(w.prefix)), StartRevision: w.from,
		WatchId: w.id, ProgressNotify: w.progress}}}
}

// create asks etcd for w's watch. Creates are answered in the order sent,
// each with the ID it asked for, or with -1 and a reason when refused.
// While the stream reconnects, resume sends it.
func (s *muxStream) create(w *muxWatch) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	stream := s.stream
	if stream == nil || w.sentOn == stream {
		// Reconnecting, or a resume already sent it: a second create
		// would be refused as a duplicate ID.
		s.mu.Unlock()
		return
	}
	w.sentOn = stream
	s.pending = append(s.pending, w)
	req := createRequest(w)
	s.mu.Unlock()
	// A failed send means the stream is breaking: its reader resumes every
	// watch on it, this one included.
	_ = stream.Send(req)
}

// release ends w. The last watch of a stream closes the stream; otherwise
// etcd is asked to cancel w's watch.
func (m *watchMux) release(w *muxWatch) {
	w.end(errWatchReleased)
	s := w.stream
	m.mu.Lock()
	s.mu.Lock()
	_, had := s.watches[w.id]
	delete(s.watches, w.id)
	last := len(s.watches) == 0
	s.mu.Unlock()
	if last && m.cur == s {
		m.cur = nil
	}
	m.mu.Unlock()
	switch {
	case !had:
	case last:
		s.cancel()
	default:
		s.sendMu.Lock()
		s.mu.Lock()
		stream := s.stream
		s.mu.Unlock()
		if stream != nil {
			// An error here means the stream is breaking; resume skips w.
			_ = stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: w.id}}})
		}
		s.sendMu.Unlock()
	}
}

func (s *muxStream) up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil
}

// run reads the stream, and replaces it when it breaks, until the
// muxStream ends.
func (s *muxStream) run(d *driver) {
	bo := core.Backoff{Base: muxRetryBase, Cap: muxRetryCap}
	s.mu.Lock()
	stream := s.stream
	s.mu.Unlock()
	for {
		err := s.read(stream, &bo)
		if halts(s.ctx, err) {
			s.fail(err)
			return
		}
		s.mu.Lock()
		s.stream, s.pending = nil, nil
		s.mu.Unlock()
		d.log.Warn("discovery: etcd watch stream broke; resuming the watches from their next revision", "err", d.fail("watch", rpctypes.Error(err)))
		for {
			if !core.Sleep(s.ctx, bo.Next()) {
				s.fail(s.ctx.Err())
				return
			}
			if stream, err = dialWatch(s.ctx, d); err == nil {
				break
			}
			if halts(s.ctx, err) {
				s.fail(err)
				return
			}
		}
		s.resume(stream)
	}
}

// read hands each response to its watch until the stream fails.
func (s *muxStream) read(stream pb.Watch_WatchClient, bo *core.Backoff) error {
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		bo.Reset()
		if w := s.route(resp); w != nil {
			w.push(resp)
		}
	}
}

// halts reports whether a stream error ends the watches rather than the
// stream: only an unreachable member is worth resuming on (as in clientv3).
// A lost leader ends them too, so core reads the lists again elsewhere.
func halts(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(rpctypes.Error(err), rpctypes.ErrNoLeader) {
		return true
	}
	c := status.Code(err)
	return c != codes.Unavailable && c != codes.Internal
}

// resume sends, on a new stream, a create for every watch still open, from
// the revision after the last one it was given.
func (s *muxStream) resume(stream pb.Watch_WatchClient) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	s.stream = stream
	s.pending = slices.SortedFunc(maps.Values(s.watches), func(a, b *muxWatch) int { return cmp.Compare(a.id, b.id) })
	reqs := make([]*pb.WatchRequest, len(s.pending))
	for i, w := range s.pending {
		w.sentOn = stream
		reqs[i] = createRequest(w)
	}
	s.mu.Unlock()
	for _, req := range reqs {
		if stream.Send(req) != nil {
			return // breaking again: the reader resumes once more
		}
	}
}

// route finds the watch a response is for, and moves its resume revision;
// nil when there is nothing to hand over: no open watch, a progress
// notification, or the creation of a resumed watch.
func (s *muxStream) route(resp *pb.WatchResponse) *muxWatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !resp.Created {
		w := s.watches[resp.WatchId]
		switch {
		case w == nil || resp.Canceled:
		case len(resp.Events) > 0:
			w.from = resp.Events[len(resp.Events)-1].Kv.ModRevision + 1
		default: // progress: every event up to the header's revision was sent
			w.from = max(w.from, resp.Header.GetRevision()+1)
			return nil
		}
		return w
	}
	if len(s.pending) == 0 {
		return nil
	}
	w := s.pending[0]
	s.pending = s.pending[1:]
	switch {
	case resp.Canceled: // refused: the watcher reports why
	case resp.WatchId != w.id:
		w.end(fmt.Errorf("etcd answered watch %d with ID %d: the server must be etcd 3.4 or newer", w.id, resp.WatchId))
		return nil
	default:
		if w.from == 0 { // from now: resume after the revision it began at
			w.from = resp.Header.GetRevision() + 1
		}
		if w.created {
			return nil
		}
		w.created = true
	}
	if _, ok := s.watches[w.id]; !ok {
		return nil
	}
	return w
}

// fail ends the muxStream and every watch on it.
func (s *muxStream) fail(err error) {
	err = rpctypes.Error(err)
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	ws := slices.Collect(maps.Values(s.watches))
	s.mu.Unlock()
	for _, w := range ws {
		w.end(err)
	}
	s.cancel()
}

func (w *muxWatch) push(resp *pb.WatchResponse) {
	w.mu.Lock()
	w.queue = append(w.queue, resp)
	w.mu.Unlock()
	w.signal()
}

func (w *muxWatch) end(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.signal()
}

func (w *muxWatch) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// next returns the responses queued since the last call, waiting for one;
// once the queue is empty, the error that ended the watch.
func (w *muxWatch) next(ctx context.Context) ([]*pb.WatchResponse, error) {
	for {
		w.mu.Lock()
		q, err := w.queue, w.err
		w.queue = nil
		w.mu.Unlock()
		if len(q) > 0 {
			return q, nil
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

//go:build kubernetes

package kubernetes

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"k8s.io/klog/v2"

	"github.com/seedforge/discovery/core"
)

// client-go logs through klog, which is process-global and by default
// writes its own format to stderr. Importing this package points klog, once
// and during program initialisation (klog's setter is not safe while
// anything logs), at klogHandler, which hands each line to the logger of
// the oldest open driver, or slog.Default() while none is open. A program
// that configures klog itself does so in main, after this init, and wins.
func init() { klog.SetSlogLogger(slog.New(klogHandler{})) }

// klogTargets are the loggers of the open drivers, oldest first.
var klogTargets struct {
	mu      sync.Mutex
	loggers []*klogTarget
}

type klogTarget struct{ log *slog.Logger }

// routeKlog makes log receive client-go's lines while it is the oldest
// open driver's, secrets scrubbed from them before they are cut to size;
// the returned func ends that.
func routeKlog(log *slog.Logger, secrets []string) (release func()) {
	t := &klogTarget{log: core.RedactLogger(slog.New(boundHandler{log.Handler()}), secrets)}
	klogTargets.mu.Lock()
	klogTargets.loggers = append(klogTargets.loggers, t)
	klogTargets.mu.Unlock()
	return func() {
		klogTargets.mu.Lock()
		defer klogTargets.mu.Unlock()
		for i, l := range klogTargets.loggers {
			if l == t {
				klogTargets.loggers = append(klogTargets.loggers[:i], klogTargets.loggers[i+1:]...)
				return
			}
		}
	}
}

func currentKlogTarget() slog.Handler {
	klogTargets.mu.Lock()
	defer klogTargets.mu.Unlock()
	if len(klogTargets.loggers) == 0 {
		return boundHandler{slog.Default().Handler()}
	}
	return klogTargets.loggers[0].log.Handler()
}

// klogHandler receives klog's lines as slog records: a logr Info at
// verbosity V(n) arrives at level -n, an Error at LevelError. Only V(0)
// and errors pass, whatever klog's -v flag says: client-go logs request
// URLs, headers and bodies from V(6) up, which have no place in an
// application's log. Errors go out at Warn: client-go retries what fails
// by itself, and a call that fails reaches core as its error.
type klogHandler struct {
	ops []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, replayed onto the target
}

func (h klogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && currentKlogTarget().Enabled(ctx, klogLevel(l))
}

func klogLevel(l slog.Level) slog.Level {
	if l >= slog.LevelError {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func (h klogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo {
		return nil
	}
	next := currentKlogTarget()
	for _, op := range h.ops {
		next = op(next)
	}
	out := slog.NewRecord(r.Time, klogLevel(r.Level), "client-go: "+strings.TrimSpace(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return next.Handle(ctx, out)
}

func (h klogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.with(func(n slog.Handler) slog.Handler { return n.WithAttrs(as) })
}

func (h klogHandler) WithGroup(name string) slog.Handler {
	return h.with(func(n slog.Handler) slog.Handler { return n.WithGroup(name) })
}

func (h klogHandler) with(op func(slog.Handler) slog.Handler) klogHandler {
	return klogHandler{ops: append(h.ops[:len(h.ops):len(h.ops)], op)}
}

// boundHandler cuts client-go's message and values (it may log whole
// objects) like store data.
type boundHandler struct{ next slog.Handler }

func (h boundHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h boundHandler) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message
	if len(msg) > core.MaxLogged {
		msg = core.StoreData(msg).LogValue().String()
	}
	out := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(boundAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h boundHandler) WithAttrs(as []slog.Attr) slog.Handler {
	bounded := make([]slog.Attr, len(as))
	for i, a := range as {
		bounded[i] = boundAttr(a)
	}
	return boundHandler{h.next.WithAttrs(bounded)}
}

func (h boundHandler) WithGroup(name string) slog.Handler {
	return boundHandler{h.next.WithGroup(name)}
}

// boundAttr renders a value client-go logged (an object, an error, a
// string) as bounded text; numbers, booleans and times stay as they are.
func boundAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, g := range as {
			out[i] = boundAttr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindString:
		return slog.Any(a.Key, core.StoreData(v.String()))
	case slog.KindAny:
		return slog.Any(a.Key, core.StoreData(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

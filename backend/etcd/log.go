//go:build etcd

package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapLogger hands the etcd client's zap logging to log. The client warns
// about every retry while the cluster is unreachable, which core already
// reports once per failure with its context, so its warnings go out at Debug
// and only its errors at Warn.
// Every error it logs also goes to causes, whatever the log level.
func zapLogger(log *slog.Logger, causes *connCauses) *zap.Logger {
	return zap.New(&slogCore{log: log.With("component", "etcd-client"), causes: causes})
}

type slogCore struct {
	log    *slog.Logger
	causes *connCauses
	fields []zapcore.Field
}

// connCauses keeps the latest connection error the etcd client logged. The
// client turns an RPC that timed out waiting for a connection into a bare
// "context deadline exceeded" (its toErr), dropping the reason, which it
// only logs ("connection refused", a TLS or DNS failure): fail puts it back.
type connCauses struct {
	latest atomic.Pointer[connCause]
}

type connCause struct {
	msg string
	at  time.Time
}

// causeFresh bounds how old a logged error may be to explain a timeout: the
// client logs an RPC's last error as the RPC gives up.
const causeFresh = 2 * time.Second

// connErrDetail finds the dial error inside a gRPC status message such as
// `... latest balancer error: connection error: desc = "transport: Error
// while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`.
var connErrDetail = regexp.MustCompile(`connection error: desc = "(?:transport: )?(?:Error while dialing:? )?([^"]+)"`)

func (c *connCauses) record(msg string) {
	m := connErrDetail.FindStringSubmatch(msg)
	if m == nil {
		return
	}
	c.latest.Store(&connCause{msg: strings.TrimSpace(m[1]), at: time.Now()})
}

// explain adds the latest connection error to err when err is a timeout
// that the error explains.
func (c *connCauses) explain(err error) error {
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	l := c.latest.Load()
	if l == nil || time.Since(l.at) > causeFresh {
		return err
	}
	return fmt.Errorf("%w (cause: %s)", err, l.msg)
}

func level(l zapcore.Level) (slog.Level, bool) {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelWarn, true
	case l == zapcore.WarnLevel:
		return slog.LevelDebug, true
	}
	return 0, false
}

// Enabled lets every warning through, to see connection errors; Write
// decides what reaches the slog logger.
func (c *slogCore) Enabled(l zapcore.Level) bool {
	_, ok := level(l)
	return ok
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, causes: c.causes, fields: append(c.fields[:len(c.fields):len(c.fields)], fields...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	sl, _ := level(e.Level)
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && f.Type == zapcore.ErrorType && c.causes != nil {
			c.causes.record(err.Error())
		}
	}
	if !c.log.Enabled(context.Background(), sl) {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, k, v)
	}
	c.log.Log(context.Background(), sl, "etcd client: "+e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// fail words an error of an etcd call, with the connection error that
// explains a timeout.
func (d *driver) fail(op string, err error) error {
	return fmt.Errorf("etcd %s: %w", op, d.causes.explain(err))
}

package etcdnode

import (
	"slices"
	"sync/atomic"

	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapCore routes etcd's zap logging into the daemon's zerolog logger, so
// the process writes one log stream in one format. etcd logs every raft
// step and compaction at info; below warn that is noise for an operator,
// so info is passed only when the daemon itself logs at debug.
type zapCore struct {
	log    zerolog.Logger
	min    zapcore.Level
	fields []zapcore.Field
	// closing is set when the member is being stopped on purpose: etcd then
	// logs every listener it closes as a serving error, which would alarm
	// an operator reading a clean shutdown, so those go to debug.
	closing *atomic.Bool
}

func newZapLogger(log zerolog.Logger, closing *atomic.Bool) *zap.Logger {
	min := zapcore.WarnLevel
	if log.GetLevel() <= zerolog.DebugLevel {
		min = zapcore.InfoLevel
	}
	return zap.New(&zapCore{log: log, min: min, closing: closing})
}

func (c *zapCore) Enabled(l zapcore.Level) bool { return l >= c.min }

func (c *zapCore) With(fields []zapcore.Field) zapcore.Core {
	return &zapCore{log: c.log, min: c.min, fields: append(slices.Clip(c.fields), fields...), closing: c.closing}
}

func (c *zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	lvl := zerologLevel(e.Level)
	if c.closing.Load() && lvl > zerolog.DebugLevel {
		lvl = zerolog.DebugLevel
	}
	ev := c.log.WithLevel(lvl)
	if e.LoggerName != "" {
		ev = ev.Str("etcd_logger", e.LoggerName)
	}
	ev.Fields(enc.Fields).Msg(e.Message)
	return nil
}

func (c *zapCore) Sync() error { return nil }

// zerologLevel maps zap levels; panic and fatal map to error because zap
// itself performs the panic or exit after writing, and zerolog must not
// do it a second time.
func zerologLevel(l zapcore.Level) zerolog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return zerolog.DebugLevel
	case l == zapcore.InfoLevel:
		return zerolog.InfoLevel
	case l == zapcore.WarnLevel:
		return zerolog.WarnLevel
	default:
		return zerolog.ErrorLevel
	}
}

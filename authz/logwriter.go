package authz

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLogWriterClosed is returned by Enqueue after Close has begun.
var ErrLogWriterClosed = errors.New("decision log writer is closed")

// LogWriterConfig holds the settings of a LogWriter. Zero fields take the
// defaults of DefaultLogWriterConfig.
type LogWriterConfig struct {
	// QueueSize is how many logs wait for the writer before Enqueue blocks.
	QueueSize int
	// BatchSize is the most logs written in one transaction.
	BatchSize int
	// FlushInterval is the longest a queued log waits for its batch to
	// fill before the batch is written anyway.
	FlushInterval time.Duration
	// AllowedSampleRate is the fraction of allowed decisions whose logs are
	// kept, in (0, 1]. Denied decisions are always kept. The zero value
	// keeps every log, as does any value outside (0, 1): sampling is only
	// ever switched on on purpose. (Verbosity 0 is how to keep no logs.)
	AllowedSampleRate float64
	// Retries is how many times a failed batch is tried again before its
	// logs are given up (and counted as failed, with an error log line).
	Retries int
	// RetryBackoff is the wait before the first retry; it doubles for each
	// further one, up to MaxRetryBackoff.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// WriteTimeout bounds one attempt at writing a batch.
	WriteTimeout time.Duration
	// Logger receives the writer's warnings and errors; nil means
	// slog.Default().
	Logger *slog.Logger
}

// DefaultLogWriterConfig returns the default settings:
//   - a queue of 10,000 logs: a few seconds of a busy server's checks,
//     enough to ride out a slow transaction without blocking requests;
//   - batches of up to 500 logs, flushed at least every 200ms: large
//     enough that a transaction's fixed cost is spread thin, and a log is
//     readable well within a second of its check;
//   - 5 retries from 100ms doubling to at most 5s, about 10s in all, which
//     outlasts a database restart or a failover without holding a batch
//     forever;
//   - 30s per attempt.
func DefaultLogWriterConfig() LogWriterConfig {
	return LogWriterConfig{
		QueueSize:         10000,
		BatchSize:         500,
		FlushInterval:     200 * time.Millisecond,
		AllowedSampleRate: 1,
		Retries:           5,
		RetryBackoff:      100 * time.Millisecond,
		MaxRetryBackoff:   5 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
}

func (c LogWriterConfig) withDefaults() LogWriterConfig {
	d := DefaultLogWriterConfig()
	if c.QueueSize <= 0 {
		c.QueueSize = d.QueueSize
	}
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = d.FlushInterval
	}
	if !(c.AllowedSampleRate > 0 && c.AllowedSampleRate < 1) {
		c.AllowedSampleRate = 1
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = d.RetryBackoff
	}
	if c.MaxRetryBackoff <= 0 {
		c.MaxRetryBackoff = d.MaxRetryBackoff
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// LogWriterStats counts what a LogWriter did with the logs it was given.
// Every log given to Enqueue without an error ends up in exactly one of
// Written, SampledOut and Failed, or is still pending (Queued minus Written
// minus Failed).
type LogWriterStats struct {
	Queued     int64 // accepted into the queue
	Written    int64 // stored
	SampledOut int64 // allowed logs left out by sampling, never queued
	Failed     int64 // given up after every retry, each with an error log line
}

// LogWriter persists decision logs off the checks' critical path. It is a
// LogSink: Enqueue puts a log on a bounded queue, and one goroutine drains
// the queue into the store in batches of up to BatchSize logs, writing a
// partial batch once its first log has waited FlushInterval. When the
// queue is full, Enqueue waits (back-pressure) rather than dropping.
// Close flushes everything queued.
//
// Sampling, when AllowedSampleRate is below 1, keeps an allowed log when a
// hash of its name and request id falls below the rate, so that within a
// request the same decision is kept or left out every time, and a log
// with no request id is kept at random. Denied logs are always kept.
type LogWriter struct {
	store DecisionLogStore
	cfg   LogWriterConfig

	queue chan DecisionLog
	done  chan struct{} // closed when the drain goroutine has returned

	mu      sync.RWMutex // guards closed against Enqueue's check
	closed  bool
	senders sync.WaitGroup // Enqueue calls past the closed check

	queued, written, sampled, failed atomic.Int64
}

var _ LogSink = (*LogWriter)(nil)

// NewLogWriter starts a writer into store. Call Close to stop it.
func NewLogWriter(store DecisionLogStore, cfg LogWriterConfig) *LogWriter {
	cfg = cfg.withDefaults()
	w := &LogWriter{
		store: store,
		cfg:   cfg,
		queue: make(chan DecisionLog, cfg.QueueSize),
		done:  make(chan struct{}),
	}
	go w.drain()
	return w
}

// Enqueue queues a log for writing. It waits while the queue is full; if
// ctx ends first it returns an error wrapping ctx's, and the log is not
// queued. A log that fits is queued even when ctx has ended, since the
// check it records has happened. After Close it returns ErrLogWriterClosed.
func (w *LogWriter) Enqueue(ctx context.Context, log DecisionLog) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return fmt.Errorf("enqueue decision log %q: %w", log.Name, ErrLogWriterClosed)
	}
	w.senders.Add(1)
	w.mu.RUnlock()
	defer w.senders.Done()

	if !w.keep(log) {
		w.sampled.Add(1)
		return nil
	}
	select {
	case w.queue <- log:
		w.queued.Add(1)
		return nil
	default:
	}
	select {
	case w.queue <- log:
		w.queued.Add(1)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("enqueue decision log %q: queue full: %w", log.Name, ctx.Err())
	}
}

// keep says whether sampling keeps log.
func (w *LogWriter) keep(log DecisionLog) bool {
	rate := w.cfg.AllowedSampleRate
	if !log.Allowed || rate >= 1 {
		return true
	}
	if log.RequestID == "" {
		return rand.Float64() < rate
	}
	return sampleHash(log.Name, log.RequestID) < rate
}

// sampleHash maps a log's name and request id to [0, 1) with FNV-1a.
func sampleHash(name, requestID string) float64 {
	h := fnv.New64a()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(name)))
	h.Write(n[:]) // the length keeps ("ab", "c") and ("a", "bc") apart
	h.Write([]byte(name))
	h.Write([]byte(requestID))
	return float64(h.Sum64()>>11) / (1 << 53)
}

// Stats returns the writer's counters.
func (w *LogWriter) Stats() LogWriterStats {
	return LogWriterStats{Queued: w.queued.Load(), Written: w.written.Load(), SampledOut: w.sampled.Load(), Failed: w.failed.Load()}
}

// Close stops accepting logs, writes every queued one, and returns once
// the last batch is written (or given up). If ctx ends first it returns an
// error saying how many logs were still pending; the writer goes on
// flushing them in the background. Close may be called more than once.
func (w *LogWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	w.mu.Unlock()
	if first {
		go func() {
			// Enqueue calls already past the closed check may be waiting
			// for room; the drain goroutine makes it, so they finish, and
			// then nothing can send on the queue any more.
			w.senders.Wait()
			close(w.queue)
		}()
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		s := w.Stats()
		return fmt.Errorf("close decision log writer: %d logs still pending: %w", s.Queued-s.Written-s.Failed, ctx.Err())
	}
}

// drain is the writer's goroutine: it collects batches and writes them
// until the queue is closed and empty.
func (w *LogWriter) drain() {
	defer close(w.done)
	batch := make([]DecisionLog, 0, w.cfg.BatchSize)
	timer := time.NewTimer(w.cfg.FlushInterval)
	timer.Stop()
	for {
		log, ok := <-w.queue
		if !ok {
			return
		}
		batch = append(batch[:0], log)
		timer.Reset(w.cfg.FlushInterval)
		open := true
	collect:
		for len(batch) < w.cfg.BatchSize {
			select {
			case log, ok := <-w.queue:
				if !ok {
					open = false
					break collect
				}
				batch = append(batch, log)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		w.write(batch)
		if !open {
			return
		}
	}
}

// write stores a batch, retrying with backoff. When every attempt fails
// for a reason other than an unreachable store, it tries each log on its
// own, so that one log the store refuses does not take its batch with it.
func (w *LogWriter) write(batch []DecisionLog) {
	err := w.writeWithRetries(batch)
	if err == nil {
		w.written.Add(int64(len(batch)))
		return
	}
	if len(batch) == 1 || errors.Is(err, ErrUnavailable) {
		w.giveUp(batch, err)
		return
	}
	w.cfg.Logger.Warn("decision log batch failed; writing its logs one by one", "logs", len(batch), "error", err)
	for i := range batch {
		one := batch[i : i+1]
		if err := w.attempt(one); err != nil {
			w.giveUp(one, err)
			continue
		}
		w.written.Add(1)
	}
}

func (w *LogWriter) writeWithRetries(batch []DecisionLog) error {
	backoff := w.cfg.RetryBackoff
	var err error
	for try := 0; ; try++ {
		if err = w.attempt(batch); err == nil {
			return nil
		}
		if try == w.cfg.Retries {
			return err
		}
		w.cfg.Logger.Warn("decision log batch failed; retrying",
			"logs", len(batch), "attempt", try+1, "retry_in", backoff, "error", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, w.cfg.MaxRetryBackoff)
	}
}

// attempt writes logs once. The context is not the caller's: a batch
// outlives the requests whose checks it records.
func (w *LogWriter) attempt(logs []DecisionLog) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
	defer cancel()
	return w.store.WriteDecisionLogs(ctx, logs)
}

func (w *LogWriter) giveUp(logs []DecisionLog, err error) {
	w.failed.Add(int64(len(logs)))
	w.cfg.Logger.Error("decision logs lost: the store refused them after every retry",
		"logs", len(logs), "first", logs[0].Name, "request_id", logs[0].RequestID, "error", err)
}

// StartRetention deletes the decision logs older than days days, at once
// and then every interval, until ctx ends; days ≤ 0 keeps logs forever and
// starts nothing. It returns a function that stops the purges and waits
// for a running one to finish. Purge results and errors go to
// slog.Default(): a failed purge is retried at the next interval.
func StartRetention(ctx context.Context, store DecisionLogStore, days int, interval time.Duration) (stop func()) {
	if days <= 0 {
		return func() {}
	}
	if interval <= 0 {
		interval = time.Hour
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			cutoff := time.Now().Add(-time.Duration(days) * 24 * time.Hour)
			n, err := store.PurgeDecisionLogs(ctx, cutoff)
			switch {
			case err != nil && ctx.Err() == nil:
				slog.Default().Error("decision log retention: purge failed", "before", cutoff, "deleted", n, "error", err)
			case n > 0:
				slog.Default().Info("decision log retention: purged", "before", cutoff, "deleted", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

package authz

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
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
	// Spool, when set, takes the logs the store could not: those still
	// pending when Close's context ends, and those given up after every
	// retry. Without one, such logs are lost (and counted as Failed).
	Spool *LogSpool
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
// Every log given to Enqueue without an error ends up in one of Written,
// SampledOut, Spilled and Failed, or is still pending (Queued minus
// Written, Spilled and Failed). A batch whose write was under way when
// Close's deadline passed is spilled and may then be written after all:
// it counts in both, and the spool's replay skips it.
type LogWriterStats struct {
	Queued     int64 // accepted into the queue
	Written    int64 // stored
	SampledOut int64 // allowed logs left out by sampling, never queued
	Spilled    int64 // written to the spool, for the next start to replay
	Failed     int64 // lost: given up, with no spool to take them, each with an error log line
}

// Pending returns how many accepted logs are neither stored nor spilled
// nor given up.
func (s LogWriterStats) Pending() int64 {
	return max(0, s.Queued-s.Written-s.Spilled-s.Failed)
}

// LogWriter persists decision logs off the checks' critical path. It is a
// LogSink: Enqueue puts a log on a bounded queue, and one goroutine drains
// the queue into the store in batches of up to BatchSize logs, writing a
// partial batch once its first log has waited FlushInterval. When the
// queue is full, Enqueue waits (back-pressure) rather than dropping.
// Close flushes everything queued; when its deadline passes first, a
// writer with a Spool spills what is left to it instead.
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

	// flight guards what Close needs to take over from the drain
	// goroutine when its deadline passes: the batch being written, the
	// logs the goroutine collected after the abort, and the abort itself.
	flight   sync.Mutex
	inflight []DecisionLog // the batch being written; nil between writes
	leftover []DecisionLog // collected after the abort, never written
	aborted  bool          // Close's deadline passed: write nothing more

	queued, written, sampled, spilled, failed atomic.Int64
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
// A log without a UID is given one: the UID is what lets a spilled log be
// replayed exactly once.
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
	if log.UID == "" {
		log.UID = newLogUID(time.Now())
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
	return LogWriterStats{Queued: w.queued.Load(), Written: w.written.Load(), SampledOut: w.sampled.Load(),
		Spilled: w.spilled.Load(), Failed: w.failed.Load()}
}

// Close stops accepting logs, writes every queued one, and returns once
// the last batch is written (or spilled, or given up). Close may be called
// more than once.
//
// If ctx ends first, a writer with a Spool stops writing and spills every
// log not known to be stored (the batch being written included) to the
// spool, durably, and returns nil once they are there: a deadline never
// loses a log. It returns an error only when the spill itself fails, and
// then says how many logs are lost. A writer without a Spool returns an
// error saying how many logs were still pending, and goes on flushing them
// in the background.
func (w *LogWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	w.mu.Unlock()
	if first {
		go func() {
			// Enqueue calls already past the closed check may be waiting
			// for room; the drain goroutine (or Close's spill) makes it,
			// so they finish, and then nothing can send on the queue any
			// more.
			w.senders.Wait()
			close(w.queue)
		}()
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	if w.cfg.Spool == nil {
		return fmt.Errorf("close decision log writer: %d logs still pending: %w", w.Stats().Pending(), ctx.Err())
	}
	return w.spillPending()
}

// spillPending is Close past its deadline: it stops the drain goroutine,
// takes every log not known to be stored, and spills them.
func (w *LogWriter) spillPending() error {
	w.flight.Lock()
	if w.aborted {
		// An earlier Close spilled them.
		w.flight.Unlock()
		return nil
	}
	w.aborted = true
	// A write under way may still commit: its logs are spilled anyway, and
	// the replay skips those it finds stored.
	writing := w.inflight != nil
	pending := slices.Clone(w.inflight) // no longer reused: the drain goroutine writes no more batches
	w.flight.Unlock()
	// The drain goroutine is in a write, and will take nothing more from
	// the queue, or it is collecting a batch that it will hand over (as
	// leftover) once the queue is closed, which it is as soon as the
	// senders are done: this loop empties it, so that none waits.
	for log := range w.queue {
		pending = append(pending, log)
	}
	if !writing {
		<-w.done
	}
	w.flight.Lock()
	pending = append(pending, w.leftover...)
	w.leftover = nil
	w.flight.Unlock()
	if len(pending) == 0 {
		return nil
	}
	path, err := w.cfg.Spool.Spill(pending)
	if err != nil {
		w.failed.Add(int64(len(pending)))
		return fmt.Errorf("close decision log writer: %d logs lost: %w", len(pending), err)
	}
	w.spilled.Add(int64(len(pending)))
	w.cfg.Logger.Warn("decision logs spilled to the spool at shutdown; the next start stores them",
		"logs", len(pending), "spool", path)
	return nil
}

// drain is the writer's goroutine: it collects batches and writes them
// until the queue is closed and empty.
func (w *LogWriter) drain() {
	defer close(w.done)
	batch := make([]DecisionLog, 0, w.cfg.BatchSize)
	// The store writes the ids of the logs it stores into its batch: it
	// is given a copy, so that Close may read the batch under way.
	shadow := make([]DecisionLog, w.cfg.BatchSize)
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
		w.flight.Lock()
		if w.aborted {
			w.leftover = append(w.leftover, batch...)
			w.flight.Unlock()
			return
		}
		w.inflight = batch
		w.flight.Unlock()
		w.write(shadow[:copy(shadow, batch)])
		w.flight.Lock()
		w.inflight = nil
		aborted := w.aborted
		w.flight.Unlock()
		if aborted || !open {
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
		if try == w.cfg.Retries || w.isAborted() {
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

// isAborted says whether Close's deadline has passed.
func (w *LogWriter) isAborted() bool {
	w.flight.Lock()
	defer w.flight.Unlock()
	return w.aborted
}

// giveUp disposes of logs the store refused after every retry: into the
// spool if there is one, else they are lost, with an error line. Once
// Close has spilled the batch under way, there is nothing left to do.
func (w *LogWriter) giveUp(logs []DecisionLog, err error) {
	if w.isAborted() {
		return
	}
	if w.cfg.Spool != nil {
		path, spillErr := w.cfg.Spool.Spill(logs)
		if spillErr == nil {
			w.spilled.Add(int64(len(logs)))
			w.cfg.Logger.Warn("decision logs spilled to the spool: the store refused them after every retry; the next start stores them",
				"logs", len(logs), "first", logs[0].Name, "spool", path, "error", err)
			return
		}
		err = errors.Join(err, spillErr)
	}
	w.failed.Add(int64(len(logs)))
	w.cfg.Logger.Error("decision logs lost: the store refused them after every retry",
		"logs", len(logs), "first", logs[0].Name, "request_id", logs[0].RequestID, "error", err)
}

// DecisionLogPreparer is a DecisionLogStore that prepares for the logs of
// the coming days (PostgreSQL's partitions of decision_logs, created
// ahead).
type DecisionLogPreparer interface {
	PrepareDecisionLogs(ctx context.Context, now time.Time) error
}

// StartRetention deletes the decision logs older than days days, at once
// and then every interval, until ctx ends; days ≤ 0 keeps logs forever.
// A store that is a DecisionLogPreparer is prepared for the coming days at
// the same times, whatever days is; with neither, it starts nothing. It
// returns a function that stops the runs and waits for a running one to
// finish. Results and errors go to slog.Default(): a failed run is retried
// at the next interval.
func StartRetention(ctx context.Context, store DecisionLogStore, days int, interval time.Duration) (stop func()) {
	preparer, _ := store.(DecisionLogPreparer)
	if days <= 0 && preparer == nil {
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
			if preparer != nil {
				if err := preparer.PrepareDecisionLogs(ctx, time.Now()); err != nil && ctx.Err() == nil {
					slog.Default().Error("decision log retention: preparing the coming days failed", "error", err)
				}
			}
			if days > 0 {
				cutoff := time.Now().Add(-time.Duration(days) * 24 * time.Hour)
				n, err := store.PurgeDecisionLogs(ctx, cutoff)
				switch {
				case err != nil && ctx.Err() == nil:
					slog.Default().Error("decision log retention: purge failed", "before", cutoff, "deleted", n, "error", err)
				case n > 0:
					slog.Default().Info("decision log retention: purged", "before", cutoff, "deleted", n)
				}
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

package authn

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultUsageFlush is how often TokenUsage writes the last use of API
// tokens: a minute keeps lastUsedAt useful for spotting stale tokens
// while a busy instance writes one statement a minute, not one a request.
const DefaultUsageFlush = time.Minute

// UsageStore writes the last use of tokens, ids to times, in one
// statement.
type UsageStore interface {
	TouchTokens(ctx context.Context, used map[int64]time.Time) error
}

// TokenUsage collects the last use of API tokens in memory and writes it
// in batches (Flush, Run), so that authenticating a request writes
// nothing.
type TokenUsage struct {
	store UsageStore
	log   *slog.Logger

	mu   sync.Mutex
	used map[int64]time.Time
}

// NewTokenUsage returns a TokenUsage that writes to store.
func NewTokenUsage(store UsageStore, log *slog.Logger) *TokenUsage {
	if log == nil {
		log = slog.Default()
	}
	return &TokenUsage{store: store, log: log, used: map[int64]time.Time{}}
}

// Used notes that the token whose id is id was used at at.
func (u *TokenUsage) Used(id int64, at time.Time) {
	if id == 0 {
		return
	}
	u.mu.Lock()
	if at.After(u.used[id]) {
		u.used[id] = at
	}
	u.mu.Unlock()
}

// Flush writes the uses noted since the last flush, in one statement
// (none when there are none). Uses that fail to be written are kept for
// the next flush.
func (u *TokenUsage) Flush(ctx context.Context) error {
	u.mu.Lock()
	used := u.used
	u.used = map[int64]time.Time{}
	u.mu.Unlock()
	if len(used) == 0 {
		return nil
	}
	if err := u.store.TouchTokens(ctx, used); err != nil {
		for id, at := range used {
			u.Used(id, at)
		}
		return err
	}
	return nil
}

// Run flushes every interval until ctx ends, then once more with a
// context of its own that ends after grace, so that a shutdown keeps the
// last uses.
func (u *TokenUsage) Run(ctx context.Context, interval, grace time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := u.Flush(ctx); err != nil {
				u.log.Warn("recording API token use", "err", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
			defer cancel()
			if err := u.Flush(fctx); err != nil {
				u.log.Warn("recording API token use at shutdown", "err", err)
			}
			return
		}
	}
}

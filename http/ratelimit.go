package http

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
)

// unlimitedPaths are never rate-limited: probes and scrapes must not fail
// because a client is noisy.
var unlimitedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/api/v1/metrics": true}

// limited says whether r is rate-limited.
func (s *Server) limited(r *http.Request) bool {
	return s.Limiter != nil && !unlimitedPaths[r.URL.Path]
}

// Rate limit keys. A request that authenticated is counted against its
// principal, wherever it comes from; any other (authentication off, or
// failed) against its client's address, so that guessing credentials is
// limited as much as anonymous calls are.
func principalKey(p *platform.Principal) string {
	key := "key:" + string(p.Kind) + ":" + p.Subject
	if len(key) > maxKey {
		// A token's subject may be long: the key stays bounded in Redis.
		sum := sha256.Sum256([]byte(key))
		key = "key:sha256:" + hex.EncodeToString(sum[:])
	}
	return key
}

func addrKey(addr string) string { return "addr:" + addr }

// maxKey is the longest key given to the limiter as it is.
const maxKey = 200

// rateLimit limits the requests that authenticate let through, each
// against its principal, or its address when anonymous. It runs after
// authentication: a principal is one client from any address, and many
// behind one address (a NAT, a proxy) are many.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.limited(r) {
			next.ServeHTTP(w, r)
			return
		}
		key, addr := "", s.clientKey(r)
		if p := platform.PrincipalFrom(r.Context()); p != nil && p.Kind != platform.PrincipalAnonymous {
			key, addr = principalKey(p), ""
		} else {
			key = addrKey(addr)
		}
		if s.allow(w, r, key, addr) {
			next.ServeHTTP(w, r)
		}
	})
}

// limitFailed counts a request whose authentication failed against its
// address: it answers with 429 and returns true when the address is over
// its limit, so that a client guessing keys learns nothing more, right or
// wrong, until it may ask again.
func (s *Server) limitFailed(w http.ResponseWriter, r *http.Request) bool {
	if !s.limited(r) {
		return false
	}
	addr := s.clientKey(r)
	return !s.allow(w, r, addrKey(addr), addr)
}

// refusedFirst answers, with 429, a request from an address that was
// refused (per address) lately and may not ask again yet, before its
// credentials are checked: once an address has spent its allowance on
// failed authentications, a right key from it is refused as a wrong one
// is, until its Retry-After. It also spares the limiter (and Redis) the
// requests of a client that does not wait. The memory is this replica's;
// another one refuses the address at its first request to the shared
// limiter.
func (s *Server) refusedFirst(w http.ResponseWriter, r *http.Request) bool {
	if !s.limited(r) {
		return false
	}
	addr := s.clientKey(r)
	d, ok := s.refused.get(addr, time.Now())
	if !ok {
		return false
	}
	s.writeLimited(w, r, d)
	return true
}

// allow asks the limiter about key, sets the RateLimit headers
// (draft-ietf-httpapi-ratelimit-headers) and, when refused, answers 429
// and returns false. addr is the address key is of, "" for a principal.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, key, addr string) bool {
	d, err := s.Limiter.Allow(r.Context(), key)
	if err != nil {
		// A broken limiter must not take the API down with it.
		logger(r).WarnContext(r.Context(), "rate limiter failed; request allowed", slog.String("error", err.Error()))
		return true
	}
	if !d.Allowed {
		if addr != "" {
			s.refused.put(addr, d, time.Now())
		}
		s.writeLimited(w, r, d)
		return false
	}
	setRateHeaders(w.Header(), d)
	return true
}

func setRateHeaders(h http.Header, d platform.RateDecision) {
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
}

// writeLimited answers a refused request: 429 with Retry-After.
func (s *Server) writeLimited(w http.ResponseWriter, r *http.Request, d platform.RateDecision) {
	setRateHeaders(w.Header(), d)
	retry := max(ceilSeconds(d.RetryAfter), 1)
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	writeError(w, r, platform.Errorf(platform.ERATELIMITED,
		"rate limit of %d requests per minute exceeded; retry after %d s", d.Limit, retry))
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 0)
}

// refusedAddrs remembers the addresses the limiter refused, until they
// may ask again. It holds at most maxRefused: past that, the ones whose
// time is over are forgotten, and while it is still full no new one is
// remembered (the limiter refuses them all the same).
type refusedAddrs struct {
	mu sync.Mutex
	m  map[string]refusal
}

type refusal struct {
	d     platform.RateDecision
	at    time.Time
	until time.Time
}

const maxRefused = 10000

func (ra *refusedAddrs) put(addr string, d platform.RateDecision, now time.Time) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if ra.m == nil {
		ra.m = map[string]refusal{}
	}
	if len(ra.m) >= maxRefused {
		for a, f := range ra.m {
			if !now.Before(f.until) {
				delete(ra.m, a)
			}
		}
		if len(ra.m) >= maxRefused {
			return
		}
	}
	ra.m[addr] = refusal{d: d, at: now, until: now.Add(d.RetryAfter)}
}

// get is the decision that refused addr, aged to now, while addr may
// not ask again.
func (ra *refusedAddrs) get(addr string, now time.Time) (platform.RateDecision, bool) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	f, ok := ra.m[addr]
	if !ok {
		return platform.RateDecision{}, false
	}
	if !now.Before(f.until) {
		delete(ra.m, addr)
		return platform.RateDecision{}, false
	}
	d := f.d
	d.RetryAfter = f.until.Sub(now)
	d.Reset = max(d.Reset-now.Sub(f.at), d.RetryAfter)
	return d, true
}

package token

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// summaries count successful client_credentials grants per application
// between flushes, so that the audit log grows with people and
// incidents, not with machine traffic: one entry per application per
// minute (count, source addresses, key IDs) instead of one per token.
type summaries struct {
	mu sync.Mutex
	m  map[string]*summary // client ID -> counts since the last flush
}

type summary struct {
	count   int
	sources map[string]struct{}
	kids    map[string]struct{}
	dropped int // sources beyond the entry's bound
}

// maxSummarySources bounds the addresses one entry lists.
const maxSummarySources = 8

func (s *summaries) add(clientID, source, kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*summary{}
	}
	e := s.m[clientID]
	if e == nil {
		e = &summary{sources: map[string]struct{}{}, kids: map[string]struct{}{}}
		s.m[clientID] = e
	}
	e.count++
	e.kids[kid] = struct{}{}
	if _, ok := e.sources[source]; !ok {
		if len(e.sources) < maxSummarySources {
			e.sources[source] = struct{}{}
		} else {
			e.dropped++
		}
	}
}

func (s *summaries) take() map[string]*summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m
	s.m = nil
	return m
}

func keysOf(m map[string]struct{}) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// flushSummary writes one audit entry per application that was issued
// tokens since the last flush, and the applications' last use.
func (s *Server) flushSummary(ctx context.Context) {
	m := s.summary.take()
	for clientID, e := range m {
		detail := map[string]string{"count": strconv.Itoa(e.count), "sources": keysOf(e.sources), "kids": keysOf(e.kids)}
		if e.dropped > 0 {
			detail["otherSources"] = strconv.Itoa(e.dropped)
		}
		s.audit.record(ctx, "token.client_credentials", "app:"+clientID, "app:"+clientID, "ok", "summary", detail)
	}
	if err := s.apps.RecordClientUse(); err != nil {
		s.log.Warn("last use of applications not recorded", "event", "token.last_use_error", "err", err)
	}
}

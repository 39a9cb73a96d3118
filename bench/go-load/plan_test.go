package main

import (
	"math/rand"
	"testing"
	"time"
)

// The plan mirrors agent/link/reconnect-plan.ts: endpoints alternate, and
// the ceiling of the full-jitter wait doubles once per round over them.
func TestPlanDoublesOncePerRound(t *testing.T) {
	p := newPlan([]string{"127.0.0.1:1", "127.0.0.1:2"}, rand.New(rand.NewSource(1)))
	previous := p.current()
	var ceilings []time.Duration
	for i := 0; i < 6; i++ {
		attempts := p.attempts
		p.ended(false)
		if p.current() == previous {
			t.Fatalf("failure %d: stayed on %s", i+1, previous)
		}
		previous = p.current()
		ceilings = append(ceilings, time.Duration(float64(backoffInitial)*float64(int(1)<<attempts)))
	}
	want := []time.Duration{500, 500, 1000, 1000, 2000, 2000}
	for i, c := range ceilings {
		if c != want[i]*time.Millisecond {
			t.Fatalf("ceilings %v, want %v ms", ceilings, want)
		}
	}
}

func TestPlanWaitsWithinItsCeiling(t *testing.T) {
	p := newPlan([]string{"127.0.0.1:1"}, rand.New(rand.NewSource(2)))
	for i := 0; i < 10; i++ {
		ceiling := time.Duration(float64(backoffInitial) * float64(int(1)<<p.attempts))
		if ceiling > backoffMax {
			ceiling = backoffMax
		}
		if wait := p.ended(false); wait < 0 || wait >= ceiling {
			t.Fatalf("failure %d: waited %s, ceiling %s", i+1, wait, ceiling)
		}
	}
	if wait := p.ended(true); wait >= backoffInitial || p.attempts != 0 {
		t.Fatalf("a rebalance waits within backoffInitial and starts over: %s, %d", wait, p.attempts)
	}
}

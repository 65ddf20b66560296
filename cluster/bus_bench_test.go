package cluster

import (
	"context"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// The measurement behind the choice of bus (docs/cluster.md): the round
// trip of a 200-byte message through NATS core pub/sub and through Redis
// pub/sub, as a forwarded frame and its answer travel (node A publishes to
// node B's subject, B publishes back to A's). Each op is one round trip;
// p50 and p99 are reported in microseconds. Needs the servers:
// COLLABD_TEST_NATS_URL (default nats://127.0.0.1:4222) and
// COLLABD_TEST_REDIS_ADDR (default 127.0.0.1:6379); each skips without.
//
//	go test -run '^$' -bench BenchmarkBusRoundTrip -benchtime 20000x ./cluster

func benchAddr(b *testing.B, env, def string) string {
	v := os.Getenv(env)
	if v == "" {
		v = def
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(v, "nats://"), time.Second)
	if err != nil {
		b.Skipf("%s (%s) not reachable: %v", env, v, err)
	}
	c.Close()
	return v
}

func reportLatencies(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	if len(ds) == 0 {
		return
	}
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
}

func BenchmarkBusRoundTrip(b *testing.B) {
	payload := make([]byte, 200)
	b.Run("nats", func(b *testing.B) {
		url := benchAddr(b, "COLLABD_TEST_NATS_URL", "nats://127.0.0.1:4222")
		a, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		bn, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		defer bn.Close()
		if _, err := bn.Subscribe("bench.b", func(m *nats.Msg) { _ = bn.Publish("bench.a", m.Data) }); err != nil {
			b.Fatal(err)
		}
		back := make(chan struct{}, 1)
		if _, err := a.Subscribe("bench.a", func(*nats.Msg) { back <- struct{}{} }); err != nil {
			b.Fatal(err)
		}
		_ = a.Flush()
		_ = bn.Flush()
		ds := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			if err := a.Publish("bench.b", payload); err != nil {
				b.Fatal(err)
			}
			<-back
			ds = append(ds, time.Since(t0))
		}
		b.StopTimer()
		reportLatencies(b, ds)
	})
	b.Run("redis", func(b *testing.B) {
		addr := benchAddr(b, "COLLABD_TEST_REDIS_ADDR", "127.0.0.1:6379")
		ctx := context.Background()
		a := redis.NewClient(&redis.Options{Addr: addr})
		defer a.Close()
		bn := redis.NewClient(&redis.Options{Addr: addr})
		defer bn.Close()
		subB := bn.Subscribe(ctx, "bench.b")
		defer subB.Close()
		subA := a.Subscribe(ctx, "bench.a")
		defer subA.Close()
		if _, err := subB.Receive(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := subA.Receive(ctx); err != nil {
			b.Fatal(err)
		}
		go func() {
			for m := range subB.Channel() {
				_ = bn.Publish(ctx, "bench.a", m.Payload).Err()
			}
		}()
		chA := subA.Channel()
		ds := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			if err := a.Publish(ctx, "bench.b", payload).Err(); err != nil {
				b.Fatal(err)
			}
			<-chA
			ds = append(ds, time.Since(t0))
		}
		b.StopTimer()
		reportLatencies(b, ds)
	})
}

// BenchmarkBusThroughput: one publisher sends b.N 200-byte messages to one
// subscriber as fast as it can; ns/op is the time per message until the
// last arrives. A collabd node publishes from the room's goroutine, which
// must not wait: NATS's Publish only copies into the client's buffer,
// while go-redis's Publish waits for the server's answer, so Redis is
// measured both so and pipelined (64 messages per round trip, what a
// writer goroutine per node would have to do).
func BenchmarkBusThroughput(b *testing.B) {
	payload := make([]byte, 200)
	b.Run("nats", func(b *testing.B) {
		url := benchAddr(b, "COLLABD_TEST_NATS_URL", "nats://127.0.0.1:4222")
		a, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		r, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		done := make(chan struct{})
		n := 0
		sub, err := r.Subscribe("bench.t", func(*nats.Msg) {
			if n++; n == b.N {
				close(done)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		_ = r.Flush()
		b.ResetTimer()
		for range b.N {
			if err := a.Publish("bench.t", payload); err != nil {
				b.Fatal(err)
			}
		}
		<-done
	})
	for _, pipe := range []int{1, 64} {
		name := "redis"
		if pipe > 1 {
			name = "redis-pipelined"
		}
		b.Run(name, func(b *testing.B) {
			addr := benchAddr(b, "COLLABD_TEST_REDIS_ADDR", "127.0.0.1:6379")
			ctx := context.Background()
			a := redis.NewClient(&redis.Options{Addr: addr})
			defer a.Close()
			r := redis.NewClient(&redis.Options{Addr: addr})
			defer r.Close()
			sub := r.Subscribe(ctx, "bench.t")
			defer sub.Close()
			if _, err := sub.Receive(ctx); err != nil {
				b.Fatal(err)
			}
			ch := sub.Channel(redis.WithChannelSize(1 << 16))
			done := make(chan struct{})
			go func() {
				for i := 0; i < b.N; i++ {
					<-ch
				}
				close(done)
			}()
			b.ResetTimer()
			for i := 0; i < b.N; {
				k := min(pipe, b.N-i)
				p := a.Pipeline()
				for range k {
					p.Publish(ctx, "bench.t", payload)
				}
				if _, err := p.Exec(ctx); err != nil {
					b.Fatal(err)
				}
				i += k
			}
			<-done
		})
	}
}

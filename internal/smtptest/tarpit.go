package smtptest

import (
	"net"
	"sync"
	"testing"
)

// Tarpit accepts TCP connections and never says a word: the exchanger
// that holds a client until its greeting timeout. It reads and discards
// what the client sends, and closes everything when the test ends.
type Tarpit struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	total int
	open  int
	peak  int
	done  bool
	wg    sync.WaitGroup
}

// NewTarpit listens on addr ("127.0.0.x:port").
func NewTarpit(t testing.TB, addr string) *Tarpit {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tp := &Tarpit{ln: ln}
	tp.wg.Add(1)
	go tp.accept()
	t.Cleanup(tp.Close)
	return tp
}

func (tp *Tarpit) accept() {
	defer tp.wg.Done()
	for {
		c, err := tp.ln.Accept()
		if err != nil {
			return
		}
		tp.mu.Lock()
		if tp.done {
			tp.mu.Unlock()
			_ = c.Close()
			return
		}
		tp.conns = append(tp.conns, c)
		tp.total++
		tp.open++
		tp.peak = max(tp.peak, tp.open)
		tp.mu.Unlock()
		tp.wg.Add(1)
		go tp.hold(c)
	}
}

// hold discards the client's bytes until it hangs up.
func (tp *Tarpit) hold(c net.Conn) {
	defer tp.wg.Done()
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	tp.mu.Lock()
	tp.open--
	tp.mu.Unlock()
}

// Conns returns the connections accepted so far.
func (tp *Tarpit) Conns() int { tp.mu.Lock(); defer tp.mu.Unlock(); return tp.total }

// Open returns the connections the client has not closed yet.
func (tp *Tarpit) Open() int { tp.mu.Lock(); defer tp.mu.Unlock(); return tp.open }

// Peak returns the most connections open at once.
func (tp *Tarpit) Peak() int { tp.mu.Lock(); defer tp.mu.Unlock(); return tp.peak }

// Close stops listening and hangs up on every client; it may be called
// more than once.
func (tp *Tarpit) Close() {
	_ = tp.ln.Close()
	tp.mu.Lock()
	tp.done = true
	for _, c := range tp.conns {
		_ = c.Close()
	}
	tp.mu.Unlock()
	tp.wg.Wait()
}

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// measureDaemon runs `mtaq serve` on data and reports what an operator
// would see: start to first delivery attempt, RSS after start and after
// o.idle, and `queue ls --state deferred | head` wall time.
func measureDaemon(o options, data string) error {
	relay, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	first := make(chan time.Time, 1)
	go takeFirst(relay, first)
	cfg, err := writeConfig(o.dir, data, relay.Addr().String())
	if err != nil {
		relay.Close()
		return err
	}
	logf, err := os.Create(filepath.Join(o.dir, "serve.log"))
	if err != nil {
		relay.Close()
		return err
	}
	defer logf.Close()
	cmd := exec.Command(o.mtaq, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		relay.Close()
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer stop(cmd, exited)

	select {
	case at := <-first:
		report("start_to_first_attempt", at.Sub(start).Seconds(), "s")
	case err := <-exited:
		exited <- err // for stop, deferred
		relay.Close()
		return fmt.Errorf("mtaq serve exited: %v (see %s)", err, logf.Name())
	case <-time.After(2 * time.Minute):
		relay.Close()
		return errors.New("no delivery attempt within 2 minutes")
	}
	pid := cmd.Process.Pid
	if err := reportRSS(pid, "rss_after_start"); err != nil {
		return err
	}
	for i := range 3 {
		el, lines, err := queueLs(o.mtaq, cfg)
		if err != nil {
			return err
		}
		if lines < 2 {
			return fmt.Errorf("queue ls printed %d lines", lines)
		}
		report(fmt.Sprintf("queue_ls_head_%d", i+1), el.Seconds(), "s")
	}
	select {
	case err := <-exited:
		exited <- err // for stop, deferred
		return fmt.Errorf("mtaq serve exited while idling: %v", err)
	case <-time.After(o.idle):
	}
	if err := reportRSS(pid, "rss_after_idle"); err != nil {
		return err
	}
	return reportHWM(pid)
}

// takeFirst notes when the first delivery attempt connects, answers it
// 421, then closes the listener so later attempts are refused.
func takeFirst(l net.Listener, first chan<- time.Time) {
	c, err := l.Accept()
	l.Close()
	if err != nil {
		return
	}
	first <- time.Now()
	c.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck // best effort
	fmt.Fprint(c, "421 4.3.2 scale test: not accepting\r\n")
	c.Close()
}

// stop ends the daemon by its PID: SIGTERM, then SIGKILL after 30 s.
func stop(cmd *exec.Cmd, exited <-chan error) {
	cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may be gone
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill() //nolint:errcheck // it may be gone
		<-exited
	}
}

// queueLs times `mtaq queue ls --state deferred | head` as a shell runs it.
func queueLs(mtaq, cfg string) (time.Duration, int, error) {
	sh := fmt.Sprintf("%q queue ls --config %q --state deferred | head", mtaq, cfg)
	t := time.Now()
	out, err := exec.Command("sh", "-c", sh).Output()
	el := time.Since(t)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", sh, err)
	}
	return el, bytes.Count(out, []byte("\n")), nil
}

func reportRSS(pid int, name string) error {
	kb, err := procStatus(pid, "VmRSS")
	if err != nil {
		return err
	}
	report(name, float64(kb)/1024, "MiB")
	return nil
}

func reportHWM(pid int) error {
	kb, err := procStatus(pid, "VmHWM")
	if err != nil {
		return err
	}
	report("rss_peak", float64(kb)/1024, "MiB")
	return nil
}

// procStatus reads one "Key:  N kB" line of /proc/PID/status.
func procStatus(pid int, key string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, key)
}

// writeConfig points everything at loopback: submission on a free port,
// delivery through the relay listener, DNS at a port nothing serves.
func writeConfig(dir, data, relay string) (string, error) {
	sub, err := freePort()
	if err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`hostname = "scale.test"
data_dir = %q

[submission]
listen = [%q]

[delivery]
dns_servers = ["127.0.0.1:9"]
relay = %q
relay_tls = "none"

[log]
level = "info"
encoding = "json"
`, data, sub, relay)
	path := filepath.Join(dir, "mtaq.toml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

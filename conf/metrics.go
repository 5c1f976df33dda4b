package conf

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen, usually "127.0.0.1:9464", serves /metrics over plain HTTP on
	// that address; "" (the default) runs no metrics server. The endpoint
	// has no authentication: keep it on loopback or a private network.
	Listen string `toml:"listen"`
	// Pprof also serves Go's profiler at /debug/pprof/ on that address,
	// for finding where CPU and memory go under load.
	Pprof bool `toml:"pprof"`
}

func validateMetrics(k *checker, m Metrics) {
	if m.Listen == "" {
		if m.Pprof {
			k.add("metrics.pprof", "needs metrics.listen, the address to serve it on")
		}
		return
	}
	if err := checkListen(m.Listen); err != nil {
		k.add("metrics.listen", "%v", err)
	}
}

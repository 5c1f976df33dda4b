package conf

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen, usually "127.0.0.1:9464", serves /metrics over plain HTTP on
	// that address; "" (the default) runs no metrics server. The endpoint
	// has no authentication: keep it on loopback or a private network.
	Listen string `toml:"listen"`
}

func validateMetrics(k *checker, m Metrics) {
	if m.Listen == "" {
		return
	}
	if err := checkListen(m.Listen); err != nil {
		k.add("metrics.listen", "%v", err)
	}
}

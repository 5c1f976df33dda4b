package admin

import "context"

// ReloadResult is what a configuration reload did: the settings put in
// place, and the changed ones that keep their running values until a
// restart.
type ReloadResult struct {
	Applied      []string `json:"applied"`
	NeedsRestart []string `json:"needs_restart"`
}

// reloader is the daemon's reload: read the configuration file again and
// apply it.
type reloader func() (*ReloadResult, error)

// SetReloader makes Reload possible; the daemon sets it once started.
func (s *Service) SetReloader(f func() (*ReloadResult, error)) {
	r := reloader(f)
	s.reload.Store(&r)
}

// Reload implements API. A configuration that does not load or check is
// refused (ErrInvalid, wrapped, with its errors) and the running one stays.
func (s *Service) Reload(context.Context) (*ReloadResult, error) {
	f := s.reload.Load()
	if f == nil {
		return nil, invalid("this daemon cannot reload")
	}
	res, err := (*f)()
	if err != nil {
		return nil, invalid("reload refused; the running configuration stays: %v", err)
	}
	if res.Applied == nil {
		res.Applied = []string{}
	}
	if res.NeedsRestart == nil {
		res.NeedsRestart = []string{}
	}
	return res, nil
}

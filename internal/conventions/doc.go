// Package conventions has no code of its own: its tests hold the repository
// to the rules docs/ARCHITECTURE.md states in prose, so a change
// that breaks one fails `go test` instead of waiting for a review.
//
//   - C1 imports between mtaq packages run only in the directions of the
//     table in conventions_test.go (ARCHITECTURE's arrows); a new package
//     must be added to the table.
//   - C2 policy imports nothing that does I/O or draws random numbers.
//   - C3 only internal/clock reads the wall clock or makes real timers;
//     every other non-test file takes a clock.Clock.
//   - C4 only delivery dials out (net.Dial*, net.Dialer).
//   - C5 no zap global logger: every package takes a *zap.Logger.
//
// Exceptions are listed next to each table, one reason per entry.
package conventions

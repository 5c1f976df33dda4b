package policy

// modelEvidence asks the learned fallback about text; false when it is not
// sure enough to speak.
func modelEvidence(text string) (Evidence, bool) {
	return Evidence{}, false
}

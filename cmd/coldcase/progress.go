package main

import (
	"os"

	"github.com/schollz/progressbar/v3"
)

// progress is a progress bar on stderr, drawn only when stderr is a
// terminal: logs and CI output stay clean.
type progress struct{ bar *progressbar.ProgressBar }

// newProgress starts a bar for total units (-1: unknown, a spinner).
func newProgress(total int64, what string) *progress {
	if !stderrIsTerminal() {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)}
}

// newByteProgress starts a bar counting bytes, with rate and ETA.
func newByteProgress(total int64, what string) *progress {
	if !stderrIsTerminal() {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) Add(n int64) {
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

func (p *progress) Finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

package service

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger builds the service logger: human-readable console output in dev mode (make run
// prefixes each line with the service name), JSON otherwise, for log shippers.
func NewLogger(name string, dev bool, level string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	var cfg zap.Config
	if dev {
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.EncoderConfig.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		cfg.DisableStacktrace = true
		cfg.Development = false // no panics on DPanic in dev builds users run
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "ts"
		cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		cfg.DisableStacktrace = true // errors carry their context in the message; traces drown it
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	log, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("building logger: %w", err)
	}
	if !dev {
		log = log.With(zap.String("service", name))
	}
	return log, nil
}

// Fatal prints err and exits 1. It is for main functions only, before a logger exists or
// after it has been flushed.
func Fatal(name string, err error) {
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0) // -h printed the usage; asking for help is not a failure
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}

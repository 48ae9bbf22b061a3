package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// killServer stops a server for real (SIGKILL by pid) and waits until its
// port refuses connections.
func killServer(pid int, endpoint string) error {
	if pid <= 0 {
		return fmt.Errorf("bad server pid %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill MinIO pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", endpoint, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO at %s still answers 10s after SIGKILL of pid %d", endpoint, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restartMinIO runs WALSHIP_TEST_MINIO_CMD (same data dir and port) in the
// background, records its pid in WALSHIP_TEST_PIDFILE (testenv.sh kills it
// on exit) and waits until it is ready.
func restartMinIO(dir, endpoint string) (int, error) {
	logf, err := os.Create(filepath.Join(dir, "minio-restarted.log"))
	if err != nil {
		return 0, err
	}
	cmd := exec.Command("bash", "-c", os.Getenv("WALSHIP_TEST_MINIO_CMD"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return 0, fmt.Errorf("restart MinIO: %w", err)
	}
	pid := cmd.Process.Pid
	go func() { cmd.Wait(); logf.Close() }()
	if f, err := os.OpenFile(os.Getenv("WALSHIP_TEST_PIDFILE"), os.O_APPEND|os.O_WRONLY, 0); err == nil {
		fmt.Fprintln(f, pid)
		f.Close()
	} else {
		syscall.Kill(pid, syscall.SIGKILL)
		return 0, fmt.Errorf("record the restarted MinIO's pid: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return pid, nil
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			return pid, fmt.Errorf("restarted MinIO not ready within 60s:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

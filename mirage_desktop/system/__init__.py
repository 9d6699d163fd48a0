"""What this machine offers Mirage: devices, drivers, runtimes."""

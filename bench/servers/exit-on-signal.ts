/**
 * Loaded with `--import` into a server being profiled (`node --cpu-prof`): SIGTERM exits normally,
 * so that Node writes the profile (a signal death would not), and prints the process's CPU time
 * (user and system, µs) since start.
 */
process.on('SIGTERM', () => {
  const u = process.cpuUsage();
  console.log(`cpu user=${u.user} system=${u.system}`);
  process.exit(0);
});

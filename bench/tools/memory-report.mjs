// Reports this process's memory on stderr every 250 ms (measurement only).
setInterval(() => {
  const m = process.memoryUsage();
  process.stderr.write(
    `MEM ${JSON.stringify({ rss: m.rss, ab: m.arrayBuffers, heap: m.heapUsed, ext: m.external })}\n`,
  );
}, 250).unref();

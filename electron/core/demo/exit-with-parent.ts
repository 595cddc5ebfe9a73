// Preloaded (node --import) into the embedded session server: the agent that started it holds the other
// end of its IPC channel, which the OS closes whenever the agent ends — a clean exit, a crash or SIGKILL.
// The server then stops itself through its own SIGTERM handler (port and database released), so an agent
// never leaves its embedded server orphaned.
if (process.connected) process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));

// One line per event: ISO timestamp, level, message. INFO goes to stdout, WARN and ERROR to
// stderr, which is what journald and most log shippers expect of a foreground service.

export type Level = "INFO" | "WARN" | "ERROR";

function write(level: Level, message: string): void {
  const line = `${new Date().toISOString()} ${level} ${message}\n`;
  if (level === "INFO") process.stdout.write(line);
  else process.stderr.write(line);
}

export const log = {
  info: (message: string) => write("INFO", message),
  warn: (message: string) => write("WARN", message),
  error: (message: string) => write("ERROR", message),
};

/** Reading what baton's processes print: one JSON object a line (pino), of which tests mostly want the message. */

/** The messages of a process's output, one a line; a line that is not a JSON log line is kept as it is. */
export function logMessages(output: string): string {
  return output
    .split('\n')
    .map((line) => {
      if (!line.startsWith('{')) return line;
      try {
        const parsed: unknown = JSON.parse(line);
        return typeof parsed === 'object' && parsed !== null && 'msg' in parsed ? String(parsed.msg) : line;
      } catch {
        return line;
      }
    })
    .join('\n');
}

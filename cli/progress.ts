/**
 * Progress for long work: a bar with counts and ETA on a TTY, plain log lines
 * (at most every few seconds) otherwise, so CI logs stay readable.
 */
import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  stop(): void;
}

export function createProgress(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} {extra}`,
        stream,
        hideCursor: true,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { extra: '' });
    return {
      update: (done, extra) =>
        bar.update(done, {
          extra: extra
            ? Object.entries(extra)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')
            : '',
        }),
      stop: () => bar.stop(),
    };
  }
  const started = Date.now();
  let lastLog = 0;
  const line = (done: number, extra?: Record<string, string | number>) => {
    const elapsed = (Date.now() - started) / 1000;
    const eta = done > 0 ? Math.round((elapsed / done) * (total - done)) : NaN;
    const more = extra
      ? ' ' +
        Object.entries(extra)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')
      : '';
    stream.write(
      `${label}: ${done}/${total} (${total ? Math.floor((100 * done) / total) : 100}%) eta ${Number.isNaN(eta) ? '?' : `${eta}s`}${more}\n`,
    );
  };
  return {
    update(done, extra) {
      if (Date.now() - lastLog >= 2000 || done === total) {
        lastLog = Date.now();
        line(done, extra);
      }
    },
    stop() {},
  };
}

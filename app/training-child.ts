/**
 * The forecaster's training child (dist/app/training-child.js). The forecaster starts one per
 * training (consumers/forecaster/train-runner.ts): it reads the job from its command line and the
 * histories from the series file the parent wrote, trains, saves the model under the models folder
 * and prints the outcome as one JSON line (consumers/forecaster/training-child-protocol.ts). Exit
 * codes as tillcast's (lib/exit-codes.ts): 0 trained, 1 failed, 2 bad arguments or configuration.
 * `tillcast train` runs the same job by hand (cli/train-command.ts).
 */
import { loadConfig } from '../lib/config';
import { EXIT } from '../lib/exit-codes';
import {
  outcomeLine,
  parseTrainingChildArgv,
  readSeriesFile,
  type TrainingChildArgs,
} from '../consumers/forecaster/training-child-protocol';
import { runTrainingJob } from '../consumers/forecaster/training-job';

const NAME = 'tillcast training child';

/**
 * Exits when the parent is gone. A forecaster that stops in order stops its child (train-runner.ts);
 * one that is killed cannot, and its child would otherwise train on for minutes and save a model
 * nobody registers.
 */
function exitWithParent(): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      console.error(`${NAME}: the parent process (pid ${parent}) is gone; stopping`);
      process.exit(EXIT.failure);
    }
  }, 250).unref();
}

/** The job (the models folder and seed default to the config's), or undefined (said on stderr) when its arguments or the environment are bad. */
function parseJob(argv: string[]): (TrainingChildArgs & { modelsDir: string; seed: number }) | undefined {
  try {
    const config = loadConfig();
    const args = parseTrainingChildArgv(argv);
    return { ...args, modelsDir: args.modelsDir ?? config.MODELS_DIR, seed: args.seed ?? config.TRAIN_SEED };
  } catch (err) {
    console.error(`${NAME}: ${(err as Error).message}`);
    return undefined;
  }
}

export async function main(argv: string[]): Promise<number> {
  exitWithParent();
  const args = parseJob(argv);
  if (!args) return EXIT.usage;
  try {
    const outcome = await runTrainingJob({
      kind: args.kind,
      series: readSeriesFile(args.seriesFile),
      modelsDir: args.modelsDir,
      seed: args.seed,
      warmStart: args.warmStart,
      parentVersion: args.parentVersion,
      champion: args.champion,
    });
    console.log(outcomeLine(outcome));
    return EXIT.ok;
  } catch (err) {
    console.error(`${NAME}: ${(err as Error).message}`);
    return EXIT.failure;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

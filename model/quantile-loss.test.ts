import './testing/node-realm';
import { loadTf } from './backend';
import { OUTPUTS, pinball, pinballLoss } from './quantile-loss';

test('pinball loss: scalar definition and the tensor version agree', async () => {
  expect(pinball(0.9, 10, 8)).toBeCloseTo(1.8);
  expect(pinball(0.9, 8, 10)).toBeCloseTo(0.2);
  expect(pinball(0.5, 1, 3)).toBeCloseTo(1);
  const tf = await loadTf();
  const yTrue = [
    [1, 1, 1, 2, 2, 2],
    [0, 0, 0, 5, 5, 5],
  ];
  const yPred = [
    [0.5, 1, 2, 1, 2, 3],
    [0, 0.5, 1, 4, 5, 7],
  ];
  const q = [0.1, 0.5, 0.9, 0.1, 0.5, 0.9];
  let expected = 0;
  for (let r = 0; r < 2; r++)
    for (let c = 0; c < OUTPUTS; c++) expected += pinball(q[c]!, yTrue[r]![c]!, yPred[r]![c]!);
  expected /= 2;
  const got = pinballLoss(tf, tf.tensor2d(yTrue), tf.tensor2d(yPred)).dataSync()[0]!;
  expect(got).toBeCloseTo(expected, 5);
  // Two identical members: the same mean loss.
  const two = yPred.map((r) => [...r, ...r]);
  expect(pinballLoss(tf, tf.tensor2d(yTrue), tf.tensor2d(two)).dataSync()[0]!).toBeCloseTo(expected, 5);
});

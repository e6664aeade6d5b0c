"""The canary a new model version must pass before it is swapped in (issue 13: a registered
DummyClassifier was loaded and served "Unknown category 999" with confidence 1.0).

Two refusals, on rows the served system knows:
- one class for every canary row: a constant model, whatever its registered metrics say;
- accuracy on the labelled canary rows (a sample of the store's labelled products) far under
  the version's own test accuracy: a model that does not fit this catalogue (wrong labels,
  another data set, a broken artifact).
The store rows include training rows, so a sane model does at least as well there as on its
test split; "far under" is a ratio that only a broken model misses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("api.engine.canary")

CANARY_ROWS = 300          # labelled rows taken from the store
MIN_ROWS_ONE_CLASS = 20    # fewer rows than this cannot show a constant model
MIN_LABELLED_ROWS = 50     # fewer labelled rows than this say nothing about accuracy
MIN_ACCURACY_RATIO = 0.5   # canary accuracy must reach half the version's test accuracy


# Products of many categories, for a store without labelled rows (a fresh deployment): enough
# rows for the one-class check; no labels, so no accuracy check on them.
BUILT_IN_ROWS: list[tuple[str, str | None]] = [
    ("Lot de 3 figurines Pokémon Pikachu", "Figurines en plastique, hauteur 5 cm."),
    ("Jeu PS4 FIFA 19", None),
    ("Piscine tubulaire ronde 3,66 x 0,76 m", "Pompe de filtration incluse et bâche"),
    ("Coussin déhoussable en coton 40x40", "Housse lavable à 30 degrés"),
    ("Le Petit Prince - Antoine de Saint-Exupéry", "Livre de poche, édition Folio"),
    ("Lampe de chevet LED tactile", "Trois niveaux de luminosité"),
    ("Console Nintendo Switch Lite turquoise", None),
    ("Drone quadricoptère avec caméra HD", "Télécommande 2,4 GHz, batterie incluse"),
    ("Poussette canne légère pliable", "Pour bébé de 6 mois à 3 ans"),
    ("Carte Magic The Gathering rare", "Édition originale, anglais"),
    ("Tondeuse à gazon électrique 1600 W", "Bac de ramassage 40 L"),
    ("Puzzle 1000 pièces paysage de montagne", None),
    ("Magazine Science et Vie numéro 1200", "Mensuel, mai 2018"),
    ("Croquettes pour chat adulte 10 kg", "Au poulet, sans céréales"),
    ("Ensemble de casseroles inox 5 pièces", "Compatible induction"),
    ("Peluche ours brun 30 cm", "Doudou tout doux pour enfant"),
    ("Manette sans fil pour Xbox One", None),
    ("Chaise de bureau ergonomique réglable", "Accoudoirs et roulettes"),
    ("Kit de perceuse visseuse sans fil 18 V", "Deux batteries et chargeur"),
    ("Bande dessinée Astérix le Gaulois tome 1", "Album cartonné"),
    ("Robot de cuisine multifonction 1000 W", "Bol inox 4,5 L"),
    ("Guirlande lumineuse de Noël 10 m", "100 LED blanc chaud"),
    ("Vélo d'appartement pliable", "Huit niveaux de résistance"),
    ("Jeu de société Monopoly classique", "De 2 à 8 joueurs"),
]


@dataclass(frozen=True)
class CanaryResult:
    rows: int
    labelled_rows: int
    classes_predicted: int
    accuracy: float | None
    refusal: str | None  # why the version is refused; None when it passes

    @property
    def passed(self) -> bool:
        return self.refusal is None


def canary_rows(db_url: str) -> tuple[list[str], list[str | None], list[int]]:
    """(designations, descriptions, labels) of a fixed sample of the store's labelled
    products; empty when the store cannot be read (then only the built-in rows are used)."""
    from rakuten_assets.core.store import ProductStore

    try:
        store = ProductStore(db_url, migrate=False)
        try:
            frame = store.sample_products(limit=CANARY_ROWS)
        finally:
            store.dispose()
    except Exception as exc:  # noqa: BLE001 - the canary then runs on the built-in rows
        log.warning("canary: the store cannot be read (%s); built-in rows only", type(exc).__name__)
        return [], [], []
    descriptions = [None if d is None or d != d else str(d) for d in frame["description"]]
    return list(frame["designation"].astype(str)), descriptions, [int(c) for c in frame["prdtypecode"]]


def run_canary(predictor, test_accuracy: float | None, designations: list[str],
               descriptions: list[str | None], labels: list[int],
               extra_rows: list[tuple[str, str | None]] = ()) -> CanaryResult:
    """Predict the canary rows (labelled ones first, then `extra_rows` without labels) and say
    whether the version may serve."""
    titles = list(designations) + [t for t, _ in extra_rows]
    bodies = list(descriptions) + [b for _, b in extra_rows]
    if not titles:
        return CanaryResult(0, 0, 0, None, None)
    codes = [int(p[0]) for p in predictor.predict(titles, bodies)]
    predicted = set(codes)
    accuracy = None
    if labels:
        accuracy = sum(c == y for c, y in zip(codes, labels)) / len(labels)
    refusal = None
    if len(codes) >= MIN_ROWS_ONE_CLASS and len(predicted) == 1 and len(set(labels)) != 1:
        refusal = f"it answers one class ({codes[0]}) for all {len(codes)} canary rows"
    elif (accuracy is not None and test_accuracy and len(labels) >= MIN_LABELLED_ROWS
          and accuracy < MIN_ACCURACY_RATIO * test_accuracy):
        refusal = (f"its accuracy on {len(labels)} labelled canary rows is {accuracy:.3f}, far under "
                   f"its own test accuracy {test_accuracy:.3f}")
    return CanaryResult(len(codes), len(labels), len(predicted), accuracy, refusal)

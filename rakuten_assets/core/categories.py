"""The 27 Rakuten product type codes, their class priors and readable names.

Priors are the row counts of the official label file `Y_train_CVw08PX.csv` (84,916 rows),
embedded here so that the synthetic generator and the data checks never need the file.
Names are the community-inferred ones (Rakuten never published official names).
"""

from __future__ import annotations

# prdtypecode -> rows in the official training labels
CLASS_COUNTS: dict[int, int] = {
    10: 3116, 40: 2508, 50: 1681, 60: 832, 1140: 2671, 1160: 3953, 1180: 764,
    1280: 4870, 1281: 2070, 1300: 5045, 1301: 807, 1302: 2491, 1320: 3241,
    1560: 5073, 1920: 4303, 1940: 803, 2060: 4993, 2220: 824, 2280: 4760,
    2403: 4774, 2462: 1421, 2522: 4989, 2582: 2589, 2583: 10209, 2585: 2496,
    2705: 2761, 2905: 872,
}
OFFICIAL_TRAIN_ROWS = sum(CLASS_COUNTS.values())  # 84,916
CLASS_PRIORS: dict[int, float] = {code: n / OFFICIAL_TRAIN_ROWS for code, n in CLASS_COUNTS.items()}
CODES: tuple[int, ...] = tuple(sorted(CLASS_COUNTS))

CATEGORY_NAMES_EN: dict[int, str] = {
    10: "Books > Subcategory Unknown",
    2280: "Books > Magazines",
    2705: "Books > eBooks",
    2522: "Books > Stationery Supplies",
    2403: "Books > Batches of Books and Magazines",
    50: "Video Games & Consoles > Video Game Accessories",
    1140: "Video Games & Consoles > Figures",
    1180: "Video Games & Consoles > Roleplaying Games and Miniature Games",
    2462: "Video Games & Consoles > Batches of Consoles and Video Games",
    1160: "Video Games & Consoles > Game Cards",
    40: "Video Games & Consoles > Video Games",
    60: "Video Games & Consoles > Consoles",
    2905: "Video Games & Consoles > Video Games > PC Video Games",
    1280: "Toys & Children > Toys",
    1300: "Toys & Children > Model Making",
    1320: "Toys & Children > Childcare",
    1302: "Toys & Children > Outdoor Games",
    1301: "Toys & Children > Cafe Games",
    1281: "Toys & Children > Board Games",
    2582: "Garden & Pool > Garden Furniture",
    2583: "Garden & Pool > Pool & Spa Maintenance",
    2585: "Garden & Pool > Garden Tools",
    1560: "Home > Furniture",
    1920: "Home > Household Linens",
    2060: "Home > Decoration",
    1940: "Wines and Gastronomy > Breakfast",
    2220: "Pet Store > Dog Accessories and Food",
}

# The same names in French (the catalogue's language), for people labelling by name.
CATEGORY_NAMES_FR: dict[int, str] = {
    10: 'Livres > Sous-catégorie inconnue',
    40: 'Jeux vidéo & Consoles > Jeux vidéo',
    50: 'Jeux vidéo & Consoles > Accessoires de jeux vidéo',
    60: 'Jeux vidéo & Consoles > Consoles',
    1140: 'Jeux vidéo & Consoles > Figurines',
    1160: 'Jeux vidéo & Consoles > Cartes de jeu',
    1180: 'Jeux vidéo & Consoles > Jeux de rôle et jeux de figurines',
    1280: 'Jouets & Enfants > Jouets',
    1281: 'Jouets & Enfants > Jeux de société',
    1300: 'Jouets & Enfants > Modélisme',
    1301: 'Jouets & Enfants > Jeux de café',
    1302: 'Jouets & Enfants > Jeux de plein air',
    1320: 'Jouets & Enfants > Puériculture',
    1560: 'Maison > Mobilier',
    1920: 'Maison > Linge de maison',
    1940: 'Vins et Gastronomie > Petit déjeuner',
    2060: 'Maison > Décoration',
    2220: 'Animalerie > Accessoires et nourriture pour chiens',
    2280: 'Livres > Revues',
    2403: 'Livres > Lots de livres et magazines',
    2462: 'Jeux vidéo & Consoles > Lots de consoles et jeux vidéo',
    2522: 'Livres > Fournitures de papeterie',
    2582: 'Jardin & Piscine > Mobilier de jardin',
    2583: 'Jardin & Piscine > Entretien piscine & spa',
    2585: 'Jardin & Piscine > Outillage de jardin',
    2705: 'Livres > eBooks',
    2905: 'Jeux vidéo & Consoles > Jeux vidéo > Jeux vidéo PC',
}


def category_name(code: int) -> str:
    """Readable name for a code; unknown codes are named, not raised on, because
    a model trained elsewhere may emit codes this table does not know."""
    return CATEGORY_NAMES_EN.get(int(code), f"Unknown category {code}")


def category_name_fr(code: int) -> str:
    return CATEGORY_NAMES_FR.get(int(code), f"Catégorie inconnue {code}")


def is_known_code(code: object) -> bool:
    try:
        return int(code) in CLASS_COUNTS  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False

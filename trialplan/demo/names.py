"""Plausible, fictional person names per country for investigators and staff.

Names are drawn by combining common given names and surnames of the country,
so no real person is described; the draw is from the caller's generator.
"""

from __future__ import annotations

import numpy as np

_NAMES: dict[str, tuple[str, str]] = {
    "US": ("James Mary Robert Linda Michael Susan David Karen Daniel Emily Kevin Laura",
           "Smith Johnson Miller Davis Wilson Moore Taylor Clark Lewis Walker Hall Young"),
    "CA": ("Liam Olivia Noah Emma Ethan Chloe Lucas Sophie Nathan Julie",
           "Tremblay Gagnon Roy Cote Bouchard Martin MacDonald Campbell Stewart Bergeron"),
    "GB": ("Oliver Amelia Harry Isla George Ava Jack Grace Thomas Sophie",
           "Jones Evans Thomas Roberts Hughes Wright Edwards Green Hall Wood"),
    "DE": ("Lukas Anna Jonas Lea Felix Hannah Paul Laura Max Sophie Jan Katrin",
           "Mueller Schmidt Schneider Fischer Weber Meyer Wagner Becker Hoffmann Koch"),
    "FR": ("Lucas Camille Hugo Manon Louis Chloe Jules Ines Arthur Claire",
           "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau"),
    "ES": ("Hugo Lucia Martin Sofia Pablo Maria Alvaro Paula Diego Carmen",
           "Garcia Fernandez Gonzalez Rodriguez Lopez Martinez Sanchez Perez Gomez Ruiz"),
    "IT": ("Francesco Giulia Alessandro Sofia Lorenzo Aurora Matteo Chiara Marco Elena",
           "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco"),
    "PL": ("Jakub Zuzanna Kacper Julia Szymon Maja Filip Anna Piotr Katarzyna",
           "Nowak Kowalski Wisniewski Wojcik Kowalczyk Kaminski Lewandowski Zielinski"),
    "NL": ("Daan Emma Sem Julia Lucas Sophie Levi Tess Finn Anouk",
           "de_Jong Jansen de_Vries van_Dijk Bakker Visser Smit Meijer de_Boer Mulder"),
    "BE": ("Arthur Olivia Louis Emma Jules Louise Noah Elena Victor Marie",
           "Peeters Janssens Maes Jacobs Mertens Willems Claes Goossens Dubois Lambert"),
    "CZ": ("Jakub Eliska Jan Tereza Tomas Anna Adam Karolina Petr Lucie",
           "Novak Svoboda Novotny Dvorak Cerny Prochazka Kucera Vesely Horak Marek"),
    "HU": ("Bence Hanna Mate Anna Levente Zsofia Adam Reka Daniel Eszter",
           "Nagy Kovacs Toth Szabo Horvath Varga Kiss Molnar Nemeth Farkas"),
    "JP": ("Haruto Yui Sota Aoi Yuto Hina Riku Sakura Kenji Yuki",
           "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato"),
    "KR": ("Minjun Seoyeon Jiho Jiwoo Hyunwoo Subin Dohyun Yuna Jiwon Eunji",
           "Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim"),
    "AU": ("Jack Charlotte William Ruby Oliver Mia Thomas Chloe Lachlan Isla",
           "Smith Jones Williams Brown Wilson Taylor Anderson Thompson Nguyen Ryan"),
    "BR": ("Miguel Alice Arthur Sophia Heitor Laura Bernardo Valentina Davi Helena",
           "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes"),
}


def person_name(rng: np.random.Generator, country: str, taken: set[str]) -> str:
    """A given name and surname of ``country`` not yet in ``taken`` (which it extends)."""
    given, family = (part.split() for part in _NAMES[country])
    for _ in range(200):
        name = f"{given[rng.integers(len(given))]} {family[rng.integers(len(family))]}"
        name = name.replace("_", " ")
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError(f"ran out of distinct demo names for {country}")

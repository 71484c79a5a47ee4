"""Site metadata: coordinates, IGBP land cover and the model plant functional type (PFT).

A small table of the flux-tower sites whose public files this package reads and caches (see
:mod:`bayeslsm.data.cache`). The daily FLUXNET/ONEFlux and FluxDataKit CSV files carry no site
metadata, so readers take latitude, longitude and IGBP class from here; arguments given to a reader
override the table, and an AmeriFlux BADM file (:func:`bayeslsm.data.ameriflux.read_badm`) is preferred
to the table where one is supplied.

Sources of the table
--------------------
* ``fdk``: FluxDataKit site list ``data/fdk_site_info.csv`` (github.com/geco-bern/FluxDataKit, commit
  0462947f8a90a3b9c5cf69863b080ce557b5ff76; FluxDataKit doi:10.5281/zenodo.10885933), columns
  ``lat``, ``lon``, ``elv``, ``igbp_land_use`` (rounded here to 5 decimals).
* ``badm``: the site's AmeriFlux BADM (BIF) metadata shipped with its BASE file
  (``LOCATION_LAT``, ``LOCATION_LONG``, ``LOCATION_ELEV``, ``IGBP``).

The IGBP classes agree with the PROVENANCE files of ``../shared/data`` (ICOS WW2020 ``SitesList.csv``
classes; FluxDataKit 26-site list).

IGBP -> PFT
-----------
The model PFTs are the IGBP vegetation classes with the shrub and savanna classes merged:
``ENF, EBF, DNF, DBF, MF`` (forests) as they are; ``CSH, OSH -> SHR``; ``WSA, SAV -> SAV``;
``GRA -> GRA``; ``WET -> WET``; ``CRO`` and ``CVM`` (cropland/natural-vegetation mosaic) ``-> CRO``.
``URB, SNO, BSV, WAT`` have no vegetation PFT: :func:`igbp_to_pft` raises for them.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["IGBP_TO_PFT", "PFTS", "SITES", "SiteInfo", "igbp_to_pft", "site_info"]

IGBP_TO_PFT: dict[str, str] = {
    "ENF": "ENF",
    "EBF": "EBF",
    "DNF": "DNF",
    "DBF": "DBF",
    "MF": "MF",
    "CSH": "SHR",
    "OSH": "SHR",
    "WSA": "SAV",
    "SAV": "SAV",
    "GRA": "GRA",
    "WET": "WET",
    "CRO": "CRO",
    "CVM": "CRO",
}
"""IGBP land-cover class -> model PFT (vegetated classes only)."""

PFTS: tuple[str, ...] = tuple(dict.fromkeys(IGBP_TO_PFT.values()))
"""The model PFTs, in the order of :data:`IGBP_TO_PFT`."""

_NON_VEGETATED = {"URB": "urban", "SNO": "snow and ice", "BSV": "barren", "WAT": "water"}


class SiteInfo(NamedTuple):
    """Metadata of one flux-tower site.

    Attributes
    ----------
    site
        FLUXNET site id ``CC-Xxx``.
    name
        Site name.
    lat, lon
        Tower position [degrees_north, degrees_east].
    elev
        Elevation [m] above sea level.
    igbp
        IGBP land-cover class.
    source
        Where the row comes from (``fdk`` or ``badm``, see the module docstring).
    """

    site: str
    name: str
    lat: float
    lon: float
    elev: float
    igbp: str
    source: str

    @property
    def pft(self) -> str:
        """Model PFT of the site's IGBP class (:func:`igbp_to_pft`)."""
        return igbp_to_pft(self.igbp)


_ROWS: tuple[tuple[str, str, float, float, float, str, str], ...] = (
    # site, name, lat, lon, elev [m], IGBP, source
    ("BE-Bra", "Brasschaat", 51.30761, 4.51984, 16.0, "MF", "fdk"),
    ("BE-Lon", "Lonzee", 50.55162, 4.74623, 170.0, "CRO", "fdk"),
    ("BE-Vie", "Vielsalm", 50.30496, 5.99810, 490.0, "MF", "fdk"),
    ("CH-Cha", "Chamau", 47.21022, 8.41044, 393.0, "GRA", "fdk"),
    ("CH-Fru", "Fruebuel", 47.11583, 8.53778, 982.0, "GRA", "fdk"),
    ("CH-Lae", "Laegern", 47.47808, 8.36500, 645.0, "MF", "fdk"),
    ("CH-Oe2", "Oensingen crop", 47.28631, 7.73433, 450.0, "CRO", "fdk"),
    ("CZ-BK1", "Bily Kriz forest", 49.50208, 18.53688, 875.0, "ENF", "fdk"),
    ("DE-Geb", "Gebesee", 51.09973, 10.91463, 161.5, "CRO", "fdk"),
    ("DE-Gri", "Grillenburg", 50.95004, 13.51259, 385.0, "GRA", "fdk"),
    ("DE-Hai", "Hainich", 51.07941, 10.45209, 438.7, "DBF", "fdk"),
    ("DE-Kli", "Klingenberg", 50.89306, 13.52238, 478.0, "CRO", "fdk"),
    ("DE-Obe", "Oberbaerenburg", 50.78666, 13.72129, 734.0, "ENF", "fdk"),
    ("DE-Tha", "Tharandt", 50.96256, 13.56515, 380.0, "ENF", "fdk"),
    ("FI-Ken", "Kenttarova", 67.98721, 24.24301, 347.0, "ENF", "fdk"),
    ("FI-Let", "Lettosuo", 60.64183, 23.95952, 125.0, "ENF", "fdk"),
    ("FI-Qvd", "Qvidja", 60.29524, 22.39161, 11.0, "CRO", "fdk"),
    ("FR-Pue", "Puechabon", 43.74139, 3.59583, 270.0, "EBF", "fdk"),
    ("FR-Tou", "Toulouse", 43.57286, 1.37474, 158.0, "GRA", "fdk"),
    ("GF-Guy", "Guyaflux", 5.27870, -52.92480, 40.0, "EBF", "fdk"),
    ("IT-BCi", "Borgo Cioffi", 40.52375, 14.95744, 10.0, "CRO", "fdk"),
    ("IT-BFt", "Bosco Fontana", 45.19775, 10.74197, 23.0, "DBF", "fdk"),
    ("IT-Lav", "Lavarone", 45.95620, 11.28132, 1353.0, "ENF", "fdk"),
    ("IT-SR2", "San Rossore 2", 43.73202, 10.29091, 4.0, "ENF", "fdk"),
    ("US-CRT", "Curtice Walter-Berger cropland", 41.628495, -83.347086, 180.0, "CRO", "badm"),
    ("US-GLE", "GLEES", 41.36650, -106.23990, 3197.0, "ENF", "fdk"),
    ("US-Ha1", "Harvard Forest EMS Tower", 42.53780, -72.17150, 340.0, "DBF", "fdk"),
    ("US-MMS", "Morgan Monroe State Forest", 39.32320, -86.41310, 275.0, "DBF", "fdk"),
    ("US-Ne1", "Mead irrigated continuous maize", 41.16510, -96.47660, 361.0, "CRO", "fdk"),
    ("US-UMd", "UMBS Disturbance", 45.56250, -84.69750, 239.0, "DBF", "fdk"),
    ("US-Var", "Vaira Ranch", 38.41330, -120.95080, 129.0, "GRA", "fdk"),
    ("US-Wkg", "Walnut Gulch Kendall Grasslands", 31.73650, -109.94190, 1531.0, "GRA", "fdk"),
)

SITES: dict[str, SiteInfo] = {row[0]: SiteInfo(*row) for row in _ROWS}
"""Known sites: site id -> :class:`SiteInfo`."""


def igbp_to_pft(igbp: str) -> str:
    """Map an IGBP land-cover class to the model PFT.

    Parameters
    ----------
    igbp
        IGBP class code (case-insensitive), e.g. ``"ENF"`` or ``"OSH"``.

    Returns
    -------
    str
        PFT code, one of :data:`PFTS`.

    Raises
    ------
    ValueError
        For a non-vegetated class (URB, SNO, BSV, WAT) or an unknown code.

    Examples
    --------
    >>> igbp_to_pft("OSH"), igbp_to_pft("wsa"), igbp_to_pft("DBF")
    ('SHR', 'SAV', 'DBF')
    """
    code = str(igbp).strip().upper()
    if code in IGBP_TO_PFT:
        return IGBP_TO_PFT[code]
    if code in _NON_VEGETATED:
        raise ValueError(
            f"IGBP class {igbp!r} ({_NON_VEGETATED[code]}) has no vegetation PFT; "
            f"expected one of {sorted(IGBP_TO_PFT)}"
        )
    raise ValueError(f"unknown IGBP class {igbp!r}; expected one of {sorted(IGBP_TO_PFT) + sorted(_NON_VEGETATED)}")


def site_info(site: str) -> SiteInfo:
    """Metadata of a known site.

    Parameters
    ----------
    site
        FLUXNET site id, e.g. ``"FI-Ken"`` (case-sensitive, as in file names).

    Returns
    -------
    SiteInfo

    Raises
    ------
    KeyError
        When the site is not in :data:`SITES`; the message lists the known sites.

    Examples
    --------
    >>> info = site_info("FR-Pue")
    >>> info.igbp, info.pft, round(info.lat, 2)
    ('EBF', 'EBF', 43.74)
    """
    try:
        return SITES[site]
    except KeyError:
        raise KeyError(
            f"site {site!r} is not in bayeslsm.data.sites.SITES; known sites: {sorted(SITES)}. "
            f"Pass lat=, lon= and igbp= (or pft=) to the reader instead."
        ) from None

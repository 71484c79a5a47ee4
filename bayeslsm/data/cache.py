"""Registry of known public flux-tower files and a verified local cache (``fetch(name) -> Path``).

Lookup order for ``fetch(name)``:

1. ``BAYESLSM_DATA_DIR`` (environment variable, or the ``data_dir`` argument): searched recursively for
   a file of that name; the first match whose SHA-256 equals the registered one is returned. A match
   with another hash is an error (a different release, or a damaged copy), never used silently.
2. ``shared/data`` beside a source checkout of bayeslsm (``<checkout>/../shared/data``), searched
   the same way.
3. The pooch cache (``pooch.os_cache("bayeslsm")``, or ``BAYESLSM_CACHE_DIR``): downloaded there once
   from the registered URL with ``pooch.retrieve`` and verified against the hash. Files that are a
   member of a registered zip are extracted from it.

Without a URL, or when the download fails (no network), :class:`DatasetNotFoundError` names the
file, the places searched and how to point ``BAYESLSM_DATA_DIR`` at a local copy.

The URLs are commit-pinned raw GitHub addresses of the public repositories named in the PROVENANCE
files of ``shared/data`` (the files are redistributed there under the data licences stated per entry);
``landing`` is the dataset's DOI or release page. The hashes are those of the copies in
``shared/data`` (checked when this registry was written).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import pooch

__all__ = ["REGISTRY", "DatasetHashError", "DatasetNotFoundError", "RegistryEntry", "data_dirs", "fetch", "sha256"]

_ICOS = "https://raw.githubusercontent.com/jpdarela/FLUXNET_EU/3da545d9c6cb893344b79da6c852891d727f5a46/FLUXNET2020"
_CWD = "https://raw.githubusercontent.com/geco-bern/cwd/c4a2aa89b7ff213cd4a0a6fea3bff7eda05b402a/inst/extdata"
_HVMI = "https://raw.githubusercontent.com/geco-bern/hybrid_vegetation_model_intercomparison"
_AMF = "https://raw.githubusercontent.com/chuhousen/amerifluxr/5b1566e915074001320afc19b0da22547c1fcf2e/inst/extdata"
_REFLEX = "https://raw.githubusercontent.com/jgomezdans/dalec_pf/b34572d3113f6b3de38d2051596916638ba5d4a1/reflex"

_LIC_FLUX = "CC BY 4.0 (flux data; cite the site DOI and acknowledge the site PI team)"
_LAND_ICOS = "https://doi.org/10.18160/2G60-ZHAK"
_LAND_FDK = "https://doi.org/10.5281/zenodo.10885933"
_LAND_REFLEX = "https://doi.org/10.1016/j.agrformet.2009.05.002"


class RegistryEntry(NamedTuple):
    """One registered file.

    Attributes
    ----------
    name
        File name (the key of :data:`REGISTRY`).
    sha256
        SHA-256 of the file's bytes (hex).
    url
        Download address, or ``None`` where no public download is known.
    folder
        Sub-folder of ``shared/data`` (and of the cache) the file lives in.
    landing
        DOI or landing page of the dataset, or ``None``.
    licence
        Data licence as stated by the source.
    member_of
        Name of a registered zip archive that contains the file, or ``None``.
    """

    name: str
    sha256: str
    url: str | None
    folder: str
    landing: str | None
    licence: str
    member_of: str | None = None


def _icos(site: str, years: str, kind: str, sha: str) -> RegistryEntry:
    name = f"FLX_{site}_FLUXNET2015_{kind}_DD_{years if kind == 'FULLSET' else '1989-2020'}_beta-3.csv"
    url = f"{_ICOS}/FLX_{site}_FLUXNET2015_FULLSET_{years}_beta-3/{name}"
    return RegistryEntry(name, sha, url, "icos_ww2020", _LAND_ICOS, "CC BY 4.0 (ICOS data licence)")


_FDK26_ROOT = "5af0948e4767aa05ac9da697dcbe60089d670963/data/INPUTS_DD"
_FDK26_SUB = "685cc41474e1c718e7d6f98d4965d7a44af59810/data/INPUTS_DD/fluxnet"


def _fdk26(site: str, end: str, sha: str, where: str) -> RegistryEntry:
    name = f"FLX_{site}_PLUMBER_FULLSET_DD_2019_{end}_2-3.csv"
    return RegistryEntry(name, sha, f"{_HVMI}/{where}/{name}", "fluxdatakit_26sites", _LAND_FDK, _LIC_FLUX)


_ENTRIES: list[RegistryEntry] = [
    # ICOS Warm Winter 2020, ONEFlux FULLSET DD + ERA-Interim DD drivers (jpdarela/FLUXNET_EU)
    _icos("FI-Ken", "2018-2020", "FULLSET", "91cc844a21affcd5f36957c833b4cb154f80942fc5b6be649d4825814b8c84b8"),
    _icos("FI-Ken", "2018-2020", "ERAI", "f66a541dca9d79cce1ed5413fd4779da8eeebbd8af772983cf10ad66aa6bc760"),
    _icos("FI-Qvd", "2018-2020", "FULLSET", "74d8eff1f805dd6140a371e1e35479b0a6bfb4e193dbd66398a72de14e419ff4"),
    _icos("FI-Qvd", "2018-2020", "ERAI", "a7e6417a64aedb0a9d19a433f309981ec4f1e1acb6af9694ab644d775bb7f98a"),
    _icos("FR-Tou", "2018-2020", "FULLSET", "644b3e8357afa34cc236f5f2a5bc76c3baaddd208aacd2794ba7768a323aab99"),
    _icos("FR-Tou", "2018-2020", "ERAI", "9b2da04eeb3a0e1b3895a42c362754257bb33e3b351b5cce83a1b1d851a2bb1d"),
    _icos("IT-BFt", "2019-2020", "FULLSET", "c06af44b1e7057f11376c168ff79ef05c6646df7865db1bd7a11c4a721c0c489"),
    _icos("IT-BFt", "2019-2020", "ERAI", "477b21ce1a34031532cda7c1764857d4aa60ab561e6f6027a045ac41146f4e4d"),
    # FluxDataKit FULLSET DD (geco-bern/cwd, inst/extdata)
    RegistryEntry(
        "FLX_FR-Pue_FLUXDATAKIT_FULLSET_DD_2000_2014_2-3.csv",
        "aefd5fcd017512121c01c324c0ca2b3285b784aef2087f5c79d2808e403bc28f",
        f"{_CWD}/FLX_FR-Pue_FLUXDATAKIT_FULLSET_DD_2000_2014_2-3.csv",
        "fluxdatakit", _LAND_FDK, _LIC_FLUX,
    ),
    RegistryEntry(
        "FLX_CH-Lae_FLUXDATAKIT_FULLSET_DD_2004_2014_2-3.csv",
        "5c960cbf79472ce22d6bde4cba76fc8f33f269a2677d940ab9da7eaf3242c5d8",
        f"{_CWD}/FLX_CH-Lae_FLUXDATAKIT_FULLSET_DD_2004_2014_2-3.csv",
        "fluxdatakit", _LAND_FDK, _LIC_FLUX,
    ),
    # FluxDataKit DD, 26 sites (geco-bern/hybrid_vegetation_model_intercomparison, data/INPUTS_DD)
    _fdk26("BE-Bra", "2020", "fc3e12ac5a22542f63efcf1d5bbad5fecc274e9ffcdbe9333308c5839a6f1f56", _FDK26_SUB),
    _fdk26("BE-Lon", "2020", "76cb89941d3af959e63ee5a343c11c380059c919ff10821dffc774eee85747f3", _FDK26_SUB),
    _fdk26("BE-Vie", "2020", "8819647fc11cb007e5b89c63cb8ad8951db864ed919221eb96d08dc16c541947", _FDK26_ROOT),
    _fdk26("CH-Cha", "2020", "ae030a9ca3a3c91236245b4763299ce3bc9ffc901148360234a8d2f38e4c5590", _FDK26_SUB),
    _fdk26("CH-Fru", "2020", "779303096cc107d654918c6f650fd8e94c4c6deb6b26f5d66d6423f29cf4df27", _FDK26_ROOT),
    _fdk26("CH-Lae", "2020", "9bc8ca34c2f66803999d2b35ea7deb12fd0e591fd02c0eed2e5dc03787df77c0", _FDK26_ROOT),
    _fdk26("CH-Oe2", "2020", "430e078c7cc99c3d61895fe46cb71bbd19eef1207fe470a81224637c11be8e64", _FDK26_SUB),
    _fdk26("CZ-BK1", "2020", "d3ed0dd3d186c36dfb1c7c2128af6d1e8974a74be0241856eebf9cc22c460ec1", _FDK26_SUB),
    _fdk26("DE-Geb", "2020", "8b063a2387a4f909afc458b5f99c1c0131ffb67cf097184607fb30925e34292e", _FDK26_SUB),
    _fdk26("DE-Gri", "2020", "265f496a2668db328bfbeaec6bb5d028bfcb617de49f9985beb50b8c745e279c", _FDK26_SUB),
    _fdk26("DE-Hai", "2020", "3a46345e0d2f6c2617687764d0d45b7aa30770a43d2f9de650ca7b46e90f08f6", _FDK26_SUB),
    _fdk26("DE-Kli", "2020", "5f1d7bd8895c81bc195ebce0576c2fc2cbb0955fc050bf2635a8b8a7b872e2fa", _FDK26_ROOT),
    _fdk26("DE-Obe", "2020", "a1d04ac952a688c8ec2e660b4ba87536510ea8ef109c31582732db70234a6c63", _FDK26_SUB),
    _fdk26("DE-Tha", "2020", "e16b7d741a553da107ecaf186c28244ee43267d9bfc46a6a4a80088eec20fdda", _FDK26_SUB),
    _fdk26("FI-Let", "2020", "1bfc2d8dca8546824fe0ead32f649696cfd39e10f35b140bfc4b3dfb713c42d8", _FDK26_SUB),
    _fdk26("GF-Guy", "2020", "387348833d07f8a67077961e0b4d04d7804c28bb0baab26767ffc74db85e6983", _FDK26_ROOT),
    _fdk26("IT-BCi", "2020", "72fc2fe6f9f5c9e448cba84da3c293ebeb9d0eb7a48d56f039bcce8ce3a8a31d", _FDK26_ROOT),
    _fdk26("IT-Lav", "2020", "1d698f3f43a4878e13a70a80e82e4ee726224d28c97ee3aea42fe10b3192cade", _FDK26_ROOT),
    _fdk26("IT-SR2", "2020", "9035232787dfca1cf24de0b150eb681513e947953ee099f6411f5f953939544b", _FDK26_SUB),
    _fdk26("US-GLE", "2020", "d031300e05f12a0f0439b38e64995e9a8174025e2709b898c641a00dcaff55d7", _FDK26_SUB),
    _fdk26("US-Ha1", "2020", "47c4e918ac612cf57a207f7035dee25b646976485d2d994fdc39ba635d023056", _FDK26_SUB),
    _fdk26("US-MMS", "2020", "b1994dbe05b85ffe1d11787dbd13c1dba1ed39113a30c3da53ad1f27f86325dd", _FDK26_ROOT),
    _fdk26("US-Ne1", "2020", "c5c8548fef48fc799af810fa1a3651fec470c0532cd4c416315053f16c34d117", _FDK26_SUB),
    _fdk26("US-UMd", "2021", "afbb4f0b5a40cc3ccf1b3f25b1c6db4cd397aeffb0c260731097a3699a002bb1", _FDK26_SUB),
    _fdk26("US-Var", "2021", "58f7558b5e3163d463f33dd49aae4ed91de2cbbaa56447030080b28345d2f137", _FDK26_ROOT),
    _fdk26("US-Wkg", "2021", "4b580ac3eae66e257713f56dd6d6506b7ccff25e81277ed142a864e5b8f56589", _FDK26_ROOT),
    # AmeriFlux BASE example (chuhousen/amerifluxr, inst/extdata)
    RegistryEntry(
        "AMF_US-CRT_BASE-BADM_2-5.zip",
        "5c5d610b08481797f05a7c3159c34b4c2138bdc68a8f07bf571003ec35e0a3ed",
        f"{_AMF}/AMF_US-CRT_BASE-BADM_2-5.zip",
        "ameriflux_base_example", "https://doi.org/10.17190/AMF/1246156", "CC BY 4.0 (AmeriFlux data policy)",
    ),
    RegistryEntry(
        "AMF_US-CRT_BASE_HH_2-5.csv",
        "7c410b76d0734ebf5f151cf776c01146458f70d1fdea7fa239fd9c9f4a2b93cb",
        None,
        "ameriflux_base_example", "https://doi.org/10.17190/AMF/1246156", "CC BY 4.0 (AmeriFlux data policy)",
        member_of="AMF_US-CRT_BASE-BADM_2-5.zip",
    ),
    # REFLEX DALEC drivers (Fox et al. 2009; jgomezdans/dalec_pf): licence not stated, project use only
    *(
        RegistryEntry(f"{s}_drivers.csv", h, f"{_REFLEX}/{s}_drivers.csv", "reflex_drivers",
                      _LAND_REFLEX, "not stated (project use only; never redistribute)")
        for s, h in (
            ("DE1", "8744ecc67f3efcf6b67b898f0475d9361af66055d37f2e5d3bae32b2b38567cc"),
            ("DE2", "5b18a66dcb9b735a568cd29f5dd92474f8ff16da57e3645dd7c1b17cd6cbc340"),
            ("DE3", "52704875a781c04ad802e7ee306632398a3c2db753d95a1f40a038c154f7a1bd"),
            ("EV1", "00b4e236da9d9fc478401a2aeffd4d665c599f8b943f29e257c217dcde6b3f3b"),
            ("EV2", "db8069dfe443dd31e50edbe1941f05707326b97ec824c561b363fec8883146fd"),
            ("EV3", "bc268eb4a27078b9eef4579528a9d24d78f3438d721e9c285472a8d770f617eb"),
        )
    ),
]

REGISTRY: dict[str, RegistryEntry] = {e.name: e for e in _ENTRIES}
"""Known files: file name -> :class:`RegistryEntry`."""

ENV_DATA_DIR = "BAYESLSM_DATA_DIR"
ENV_CACHE_DIR = "BAYESLSM_CACHE_DIR"


class DatasetNotFoundError(FileNotFoundError):
    """A registered file is neither available locally nor downloadable."""


class DatasetHashError(ValueError):
    """A local file has the registered name but not the registered SHA-256."""


def sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"; _ = p.write_bytes(b"abc")
    >>> sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _checkout_data_dir() -> Path | None:
    """``<checkout>/../shared/data`` when bayeslsm runs from a source checkout that has one."""
    candidate = Path(__file__).resolve().parents[3] / "shared" / "data"
    return candidate if candidate.is_dir() else None


def _cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env) if env else Path(pooch.os_cache("bayeslsm"))


def data_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The local folders :func:`fetch` searches, in order (argument or ``BAYESLSM_DATA_DIR``, then
    ``shared/data`` beside a source checkout)."""
    dirs: list[Path] = []
    explicit = data_dir if data_dir is not None else os.environ.get(ENV_DATA_DIR)
    if explicit:
        dirs.append(Path(explicit))
    shared = _checkout_data_dir()
    if shared is not None and shared not in dirs:
        dirs.append(shared)
    return dirs


def _find_local(entry: RegistryEntry, dirs: list[Path]) -> Path | None:
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.rglob(entry.name)):
            if not p.is_file():
                continue
            found = sha256(p)
            if found != entry.sha256:
                raise DatasetHashError(
                    f"file '{p}' has SHA-256 {found}, but the registered {entry.name!r} has {entry.sha256}: "
                    f"a different release or a damaged copy. Replace it with the registered file "
                    f"(source: {entry.url or entry.landing}) or remove it from {d}."
                )
            return p
    return None


def _not_found(entry: RegistryEntry, dirs: list[Path], cache: Path, reason: str) -> DatasetNotFoundError:
    searched = [f"{d} (recursively)" + ("" if d.is_dir() else " [does not exist]") for d in dirs] or [
        f"${ENV_DATA_DIR} (not set)"
    ]
    searched.append(f"{cache / entry.folder / entry.name} (download cache)")
    lines = [
        f"data file {entry.name!r} is not available: {reason}.",
        "Searched: " + "; ".join(searched) + ".",
        f"Fix: put a copy of {entry.name} (SHA-256 {entry.sha256[:16]}...) anywhere below a folder and set "
        f"{ENV_DATA_DIR} to that folder, e.g. `export {ENV_DATA_DIR}=/path/to/shared/data` (expected layout: "
        f"$BAYESLSM_DATA_DIR/{entry.folder}/{entry.name}).",
    ]
    if entry.member_of is not None and entry.member_of in REGISTRY:
        archive = REGISTRY[entry.member_of]
        where = f", downloadable from {archive.url}" if archive.url else ""
        lines.append(f"It is a member of {archive.name}{where}.")
    if entry.url:
        lines.append(f"Download it from {entry.url}" + (f" (dataset: {entry.landing})" if entry.landing else "") + ".")
    elif entry.landing:
        lines.append(f"The dataset's landing page: {entry.landing}.")
    return DatasetNotFoundError(" ".join(lines))


def fetch(name: str, *, data_dir: str | Path | None = None, download: bool = True) -> Path:
    """Path of a registered data file, from a local copy or the download cache.

    Parameters
    ----------
    name
        File name, a key of :data:`REGISTRY`, e.g.
        ``"FLX_FI-Ken_FLUXNET2015_FULLSET_DD_2018-2020_beta-3.csv"``.
    data_dir
        Folder to search recursively first; default: the ``BAYESLSM_DATA_DIR`` environment variable.
    download
        Allow a download into the cache (``pooch.retrieve``) when no local copy exists.

    Returns
    -------
    pathlib.Path
        A file whose SHA-256 equals the registered one.

    Raises
    ------
    KeyError
        ``name`` is not registered (the message suggests close names).
    DatasetHashError
        A local file of that name has another hash.
    DatasetNotFoundError
        No local copy, and no URL, downloads disabled, or the download failed (e.g. no network); the
        message names the file, the places searched and how to set ``BAYESLSM_DATA_DIR``.

    Examples
    --------
    >>> path = fetch("FLX_FR-Pue_FLUXDATAKIT_FULLSET_DD_2000_2014_2-3.csv")  # doctest: +SKIP
    >>> from bayeslsm.data.fluxnet import read_fluxnet
    >>> forcing, obs = read_fluxnet(path)  # doctest: +SKIP
    """
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY), n=3, cutoff=0.5)
        raise KeyError(
            f"{name!r} is not a registered data file" + (f"; did you mean {close}?" if close else "")
            + f" ({len(REGISTRY)} files are registered in bayeslsm.data.cache.REGISTRY)"
        )
    entry = REGISTRY[name]
    dirs = data_dirs(data_dir)
    local = _find_local(entry, dirs)
    if local is not None:
        return local
    cache = _cache_dir()
    cached = cache / entry.folder / entry.name
    if cached.is_file() and sha256(cached) == entry.sha256:
        return cached
    if not download:
        raise _not_found(entry, dirs, cache, "no local copy and downloads are disabled (download=False)")
    if entry.member_of is not None:
        try:
            archive = fetch(entry.member_of, data_dir=data_dir, download=download)
        except DatasetNotFoundError as err:
            raise _not_found(entry, dirs, cache, f"it is extracted from {entry.member_of!r}, which is not available "
                             f"either (no local copy; download failed or disabled)") from err
        cached.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.namelist() if Path(m).name == entry.name]
            if not members:
                raise _not_found(entry, dirs, cache, f"{entry.member_of!r} has no member {entry.name!r}")
            cached.write_bytes(z.read(members[0]))
        found = sha256(cached)
        if found != entry.sha256:
            cached.unlink()
            raise DatasetHashError(
                f"{entry.name!r} extracted from {archive} has SHA-256 {found}; expected {entry.sha256}"
            )
        return cached
    if entry.url is None:
        raise _not_found(entry, dirs, cache, "no local copy and no public download address is registered")
    try:
        got = pooch.retrieve(
            entry.url, known_hash=f"sha256:{entry.sha256}", fname=entry.name, path=cache / entry.folder,
            progressbar=False,
        )
    except Exception as err:  # noqa: BLE001 - network, HTTP and hash failures all end in the same advice
        reason = f"the download from {entry.url} failed ({type(err).__name__}: {err})"
        raise _not_found(entry, dirs, cache, reason) from err
    return Path(got)

"""The list of opened prints: one row per print (a NIST file may give several), with a thumbnail.

Rows start as "loading…" placeholders when a file is queued, become prints when the io pool has
decoded them, or are marked with the error when the file could not be read. The widget only
displays; loading is done by the main window on the io pool.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QStyle, QWidget

from fpstation.core.types import FingerprintImage

THUMB = 56
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
ERROR_COLOUR = QColor(200, 60, 50)


@dataclass
class FileEntry:
    """What one row stands for."""

    path: str
    image: FingerprintImage | None = None
    error: str | None = None

    @property
    def pending(self) -> bool:
        return self.image is None and self.error is None


def dpi_text(dpi: float | None, source: str = "") -> str:
    """"500 dpi", "1000 dpi (stated)" (the user said so), or, when neither the file nor the user
    says, the explicit "unknown dpi" (never guessed)."""
    if dpi is None:
        return "unknown dpi"
    return f"{dpi:g} dpi" + (" (stated)" if source == "stated" else "")


class FileList(QListWidget):
    """Thumbnails + names of opened prints.

    Signals
    -------
    printSelected(FingerprintImage) : the current row changed to a loaded print.
    errorSelected(str, str) : the current row is a file that failed (path, message).
    """

    printSelected = Signal(object)
    errorSelected = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setUniformItemSizes(True)
        # several rows may be selected (Ctrl/Shift-click): the prints of one person to combine
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setWordWrap(False)
        self.setSpacing(1)
        self._pending_icon = self._blank_icon()
        self._error_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        #: rows by normalised path, in list order (every row is added and taken by the methods below)
        self._by_path: dict[str, list[QListWidgetItem]] = {}
        #: paths whose rows are still "loading…" (so finishing a load need not scan every row)
        self._pending: set[str] = set()
        #: loaded prints by row (id of the item), kept in step with the rows: images() is then a
        #: plain list copy, not a walk over thousands of Qt items
        self._images: dict[int, FingerprintImage] = {}
        #: folders opened: a row shows its path relative to the deepest one holding it, so equal
        #: names in different folders (Live/010_1_0.png, Fake/Gelatine/010_1_0.png) can be told apart
        self._roots: list[str] = []
        #: relative names given by the loader (a file reached through a symlink resolves elsewhere)
        self._names: dict[str, str] = {}
        self.currentItemChanged.connect(self._on_current)

    # ------------------------------------------------------------------ names
    def add_root(self, folder: str | Path) -> None:
        """A folder was opened: rows under it show their path relative to it."""
        root = _norm(str(folder))
        if root not in self._roots:
            self._roots.append(root)
            self._roots.sort(key=len, reverse=True)

    def set_names(self, names: dict[str, str]) -> None:
        """Relative names of files, by path, as the folder listing saw them."""
        self._names.update({_norm(k): v for k, v in names.items()})

    def display_name(self, path: str | Path) -> str:
        """The path relative to the opened folder that holds it, else the file name."""
        known = self._names.get(_norm(str(path)))
        if known:
            return known
        p = Path(_norm(str(path)))
        for root in self._roots:
            try:
                rel = p.relative_to(root)
            except ValueError:
                continue
            if rel.parts:
                return rel.as_posix()
        return p.name

    def display_label(self, im: FingerprintImage) -> str:
        """:attr:`FingerprintImage.label` with the relative path instead of the bare file name."""
        name = self.display_name(im.source)
        return name + im.label[len(Path(im.source).name):]

    # ------------------------------------------------------------------ rows
    def rows_for(self, path: str) -> list[QListWidgetItem]:
        return list(self._by_path.get(_norm(path), ()))

    def contains(self, path: str) -> bool:
        return bool(self.rows_for(path))

    def add_pending(self, path: str) -> QListWidgetItem:
        """A placeholder row for a file being loaded."""
        item = QListWidgetItem(self._pending_icon, f"{self.display_name(path)}\nloading…")
        item.setData(ENTRY_ROLE, FileEntry(path=_norm(path)))
        item.setToolTip(str(path))
        item.setSizeHint(QSize(0, THUMB + 8))
        self.addItem(item)
        self._by_path.setdefault(_norm(path), []).append(item)
        self._pending.add(_norm(path))
        return item

    def pending_paths(self) -> set[str]:
        """Paths (normalised) that still have a "loading…" row."""
        return set(self._pending)

    def set_prints(self, path: str, prints: list[FingerprintImage], thumbs: list[QImage]) -> list[QListWidgetItem]:
        """Replace the placeholder of ``path`` by one row per decoded print."""
        rows = self.rows_for(path)
        if len(rows) == 1 and len(prints) == 1 and rows[0].data(ENTRY_ROLE).pending:
            # the common case (one print per file): fill the placeholder in place, no O(n) re-insert
            item, im = rows[0], prints[0]
            self._fill(item, path, im, thumbs[0])
            self._pending.discard(_norm(path))
            if self.currentItem() is item:
                self.printSelected.emit(im)
            return [item]
        row = self.row(rows[0]) if rows else self.count()
        was_current = bool(rows) and self.currentItem() in rows
        for it in rows:
            self._take(it)
        made = []
        for i, (im, th) in enumerate(zip(prints, thumbs, strict=True)):
            item = QListWidgetItem()
            self._fill(item, path, im, th)
            item.setSizeHint(QSize(0, THUMB + 8))
            self.insertItem(row + i, item)
            made.append(item)
        if made:
            self._by_path.setdefault(_norm(path), []).extend(made)
            self._pending.discard(_norm(path))
        if was_current and made:
            self.setCurrentItem(made[0])
        return made

    def selected_images(self) -> list[FingerprintImage]:
        """The loaded prints of the selected rows, in list order."""
        rows = sorted(self.selectedItems(), key=self.row)
        return [self._images[id(it)] for it in rows if id(it) in self._images]

    def images(self) -> list[FingerprintImage]:
        """Every loaded print, in the order they were loaded (cheap: no Qt call per row)."""
        return list(self._images.values())

    def _fill(self, item: QListWidgetItem, path: str, im: FingerprintImage, th: QImage) -> None:
        self._images[id(item)] = im
        item.setIcon(QIcon(QPixmap.fromImage(th)))
        item.setText(self._caption(im))
        item.setData(ENTRY_ROLE, FileEntry(path=_norm(path), image=im))
        item.setToolTip(f"{im.source}\n{im.width}×{im.height} px, {dpi_text(im.dpi, im.dpi_source)}, {im.format}"
                        f"\nSHA-256 {im.sha256}")

    def set_error(self, path: str, message: str, short: str = "") -> QListWidgetItem:
        """Mark the row of ``path`` as failed (adds a row if there is none).

        ``message`` is kept on the row (tooltip, ``errorSelected``); the row itself shows ``short``
        (e.g. "Cannot open image") when given, since a long sentence would be elided unreadably.
        """
        rows = self.rows_for(path)
        item = rows[0] if rows else self.add_pending(path)
        for extra in rows[1:]:
            self._take(extra)
        self._pending.discard(_norm(path))
        self._images.pop(id(item), None)
        entry: FileEntry = item.data(ENTRY_ROLE)
        entry.error = message
        entry.image = None
        item.setData(ENTRY_ROLE, entry)
        item.setIcon(self._error_icon)
        item.setText(f"{self.display_name(path)}\n⚠ {short or message}")
        item.setForeground(QBrush(ERROR_COLOUR))
        item.setToolTip(f"{path}\n\n{message}")
        if self.currentItem() is item:
            self.errorSelected.emit(entry.path, message)
        return item

    def remove_pending(self, path: str) -> None:
        for it in self.rows_for(path):
            if it.data(ENTRY_ROLE).pending:
                self._take(it)

    def entry(self, item: QListWidgetItem | None) -> FileEntry | None:
        return None if item is None else item.data(ENTRY_ROLE)

    def entries(self) -> list[FileEntry]:
        return [it.data(ENTRY_ROLE) for it in self._items()]

    def replace_print(self, old: FingerprintImage, new: FingerprintImage) -> None:
        """Put ``new`` (e.g. the same print with a stated dpi) in the row of ``old``."""
        for it in self._items():
            e: FileEntry = it.data(ENTRY_ROLE)
            if e.image is old:
                e.image = new
                self._images[id(it)] = new
                it.setData(ENTRY_ROLE, e)
                it.setText(self._caption(new))
                return

    def select_print(self, image: FingerprintImage) -> None:
        """Make the row of ``image`` current without re-emitting if it already is."""
        for it in self._items():
            e: FileEntry = it.data(ENTRY_ROLE)
            if e.image is image or (e.image is not None and e.image.key == image.key
                                    and e.image.source == image.source):
                if self.currentItem() is not it:
                    self.blockSignals(True)
                    self.setCurrentItem(it)
                    self.blockSignals(False)
                return

    # ------------------------------------------------------------------ internals
    def _take(self, item: QListWidgetItem) -> None:
        """Remove a row from the list and from the path index."""
        key = item.data(ENTRY_ROLE).path
        rows = self._by_path.get(key, [])
        if item in rows:
            rows.remove(item)
        if not rows:
            self._by_path.pop(key, None)
            self._pending.discard(key)
        self._images.pop(id(item), None)
        self.takeItem(self.row(item))

    def _items(self) -> list[QListWidgetItem]:
        return [self.item(i) for i in range(self.count())]

    def _on_current(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        e = self.entry(current)
        if e is None:
            return
        if e.image is not None:
            self.printSelected.emit(e.image)
        elif e.error is not None:
            self.errorSelected.emit(e.path, e.error)

    def _caption(self, im: FingerprintImage) -> str:
        return f"{self.display_label(im)}\n{im.width}×{im.height} · {dpi_text(im.dpi, im.dpi_source)} · {im.format or '?'}"

    @staticmethod
    def _blank_icon() -> QIcon:
        pm = QPixmap(THUMB, THUMB)
        pm.fill(QColor(220, 222, 226))
        return QIcon(pm)


@functools.lru_cache(maxsize=1 << 16)  # one resolve per path: rows of a 5,000-file folder stay cheap
def _norm(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return str(path)

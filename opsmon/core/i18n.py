"""Every label the terminal client shows, in Bahasa Indonesia and English.

One catalog, so that a translator (or a province that wants other words)
edits one file. Names of regencies, stages, categories and severities are
data, not labels: they come from config.toml through the server's welcome.

No textual here: the formatting helpers (times in the province's zone, ages)
are plain functions, testable without a screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from opsmon.core.clock import parse_ts
from opsmon.core.protocol import Result
from opsmon.core.records import Actor
from opsmon.core.text import for_terminal
from opsmon.core.wire import convert

LANGUAGES = ("id", "en")

CATALOG: dict[str, dict[str, str]] = {
    # --- app and header ---------------------------------------------------------
    "app.title": {"id": "opsmon · Posko Gabungan", "en": "opsmon · Joint Post"},
    "header.tps": {"id": "TPS dihitung", "en": "TPS counted"},
    "header.kecamatan": {"id": "kecamatan direkap", "en": "kecamatan recapitulated"},
    "header.open": {"id": "insiden terbuka", "en": "open incidents"},
    "header.unacked": {"id": "belum di-ack", "en": "unacknowledged"},
    "header.tps_short": {"id": "TPS", "en": "TPS"},
    "header.kecamatan_short": {"id": "Kec", "en": "Kec"},
    "header.open_short": {"id": "Terbuka", "en": "Open"},
    "header.unacked_short": {"id": "Blm-ack", "en": "Unack"},
    "header.province_short": {"id": "Prov", "en": "Prov"},
    "header.connecting": {"id": "menyambung ke {url}...", "en": "connecting to {url}..."},
    "header.stale": {"id": "DATA BASI", "en": "STALE DATA"},
    "header.user": {"id": "{agency}/{name}", "en": "{agency}/{name}"},
    # Who is on duty for the officer's ground (the roster's shift in force), and until when.
    "header.duty": {"id": "Piket", "en": "On duty"},
    "header.until": {"id": "s.d. {time}", "en": "until {time}"},
    "header.readonly": {"id": "hanya-baca", "en": "read-only"},
    "banner.offline": {"id": "TERPUTUS sejak {time}, mencoba lagi...", "en": "DISCONNECTED since {time}, retrying..."},
    "banner.failover": {"id": "TERPUTUS sejak {time}, mencoba server {server}...", "en": "DISCONNECTED since {time}, trying server {server}..."},
    "header.server": {"id": "@{server}", "en": "@{server}"},
    "banner.reason": {"id": "({reason})", "en": "({reason})"},
    "banner.server_problem": {
        "id": "SERVER GAGAL MENYIMPAN: {problem}; perintah ditolak sampai pulih",
        "en": "SERVER CANNOT SAVE: {problem}; commands are refused until it recovers",
    },
    # The server's known troubles (its `problem`, English on the wire), said in the officer's language.
    "problem.disk_full": {"id": "disk penuh", "en": "the disk is full"},
    "problem.read_only": {"id": "basis data hanya-baca", "en": "the database is read-only"},
    "problem.disk_failed": {"id": "disk rusak", "en": "the disk failed"},
    # --- regency panels ---------------------------------------------------------
    "panel.all_done": {"id": "Semua tahap selesai", "en": "All stages done"},
    "panel.blocked": {"id": "TERHAMBAT", "en": "BLOCKED"},
    "panel.blocked_short": {"id": "!HAMBAT", "en": "!BLOCKED"},
    "panel.overdue": {"id": "!LEWAT BATAS", "en": "!OVERDUE"},
    "panel.late": {"id": "LEWAT JADWAL", "en": "PAST WINDOW"},
    "panel.late_short": {"id": "!JADWAL", "en": "!LATE-STAGE"},
    "panel.new": {"id": "{count} baru", "en": "{count} new"},
    "panel.critical": {"id": "!KRITIS", "en": "!CRITICAL"},
    "panel.no_incidents": {"id": "tidak ada insiden", "en": "no incidents"},
    "panel.oldest_unacked": {"id": "blm ack {age}", "en": "unack {age}"},
    "panel.focused": {"id": "[fokus]", "en": "[focus]"},
    "panel.stale": {"id": "basi", "en": "stale"},
    # severity markers: a letter and a word, never colour alone
    "sev.letter.critical": {"id": "K", "en": "C"},
    "sev.letter.high": {"id": "T", "en": "H"},
    "sev.letter.medium": {"id": "S", "en": "M"},
    "sev.letter.low": {"id": "R", "en": "L"},
    # --- queue ------------------------------------------------------------------
    "queue.title": {"id": "Antrian insiden", "en": "Incident queue"},
    "queue.count": {"id": "{count} belum selesai", "en": "{count} not resolved"},
    "queue.loading": {"id": "memuat sisanya…", "en": "loading the rest…"},
    "queue.empty": {"id": "Tidak ada insiden yang cocok.", "en": "No matching incidents."},
    "queue.none": {"id": "Tidak ada insiden.", "en": "No incidents."},
    "queue.filter.text": {"id": "teks: {text}", "en": "text: {text}"},
    "queue.filter.severity": {"id": "keparahan: {severity}", "en": "severity: {severity}"},
    "queue.filter.unacked": {"id": "hanya belum di-ack", "en": "unacknowledged only"},
    "queue.filter.regency": {"id": "wilayah: {regency}", "en": "regency: {regency}"},
    "queue.filter.marked": {"id": "{count} ditandai", "en": "{count} marked"},
    "queue.filter.placeholder": {"id": "Saring teks (enter: selesai, esc: hapus)", "en": "Filter text (enter: done, esc: clear)"},
    "col.mark": {"id": " ", "en": " "},
    "col.status": {"id": "Status", "en": "Status"},
    "col.regency": {"id": "Wilayah", "en": "Regency"},
    "col.category": {"id": "Kategori", "en": "Category"},
    "col.severity": {"id": "Tingkat", "en": "Severity"},
    "col.severity_short": {"id": "Tk", "en": "Sev"},
    "col.title": {"id": "Judul", "en": "Title"},
    "col.age": {"id": "Umur", "en": "Age"},
    "col.acked_by": {"id": "Di-ack oleh", "en": "Acknowledged by"},
    "col.acked_by_short": {"id": "Ack oleh", "en": "Acked by"},
    "status.open": {"id": "BARU", "en": "NEW"},
    "status.acknowledged": {"id": "ACK", "en": "ACK"},
    "status.resolved": {"id": "SELESAI", "en": "DONE"},
    "status.overdue": {"id": "!LEWAT", "en": "!LATE"},
    # A step of the escalation chain, as the messages name it ("eskalasi L2"); a repeat of the last level "L3+1".
    "status.level": {"id": "L{level}", "en": "L{level}"},
    "status.level_repeat": {"id": "L{level}+{repeat}", "en": "L{level}+{repeat}"},
    # Whom an escalation told, and what each channel did (the detail, opsmon show).
    "told.sent": {"id": "terkirim", "en": "sent"},
    "told.failed": {"id": "GAGAL", "en": "FAILED"},
    "told.pending": {"id": "belum terkirim", "en": "not sent yet"},
    "detail.told": {"id": "Diberitahu", "en": "Told"},
    # --- ticker (wall) ----------------------------------------------------------
    "ticker.title": {"id": "Insiden terbaru", "en": "Latest incidents"},
    "ticker.empty": {"id": "Belum ada insiden.", "en": "No incidents yet."},
    "ticker.no_data": {"id": "Belum ada data: menunggu server.", "en": "No data yet: waiting for the server."},
    # --- detail -----------------------------------------------------------------
    "detail.title": {"id": "Insiden #{id}", "en": "Incident #{id}"},
    "detail.regency": {"id": "Wilayah", "en": "Regency"},
    "detail.category": {"id": "Kategori", "en": "Category"},
    "detail.severity": {"id": "Tingkat", "en": "Severity"},
    "detail.status": {"id": "Status", "en": "Status"},
    "detail.level": {"id": "Eskalasi", "en": "Escalation"},
    "detail.location": {"id": "Lokasi", "en": "Location"},
    "detail.reporter": {"id": "Pelapor", "en": "Reporter"},
    "detail.reported": {"id": "Dilaporkan", "en": "Reported"},
    "detail.ack_due": {"id": "Batas ack", "en": "Ack due"},
    "detail.acked": {"id": "Di-ack", "en": "Acknowledged"},
    "detail.resolved": {"id": "Diselesaikan", "en": "Resolved"},
    "detail.detail": {"id": "Uraian", "en": "Details"},
    "detail.notes": {"id": "Catatan", "en": "Notes"},
    "detail.no_notes": {"id": "(belum ada catatan)", "en": "(no notes yet)"},
    "detail.notes_before": {"id": "({count} catatan sebelumnya: lihat riwayat)", "en": "({count} earlier notes: see the history)"},
    "detail.timeline": {"id": "Riwayat", "en": "Timeline"},
    "detail.timeline_loading": {"id": "memuat riwayat...", "en": "loading timeline..."},
    "detail.timeline_failed": {"id": "riwayat tidak dapat dimuat: {reason}", "en": "timeline unavailable: {reason}"},
    "detail.gone": {"id": "Insiden ini tidak ada lagi di data.", "en": "This incident is no longer in the data."},
    "detail.none": {"id": "-", "en": "-"},
    "event.incident.reported": {"id": "dilaporkan", "en": "reported"},
    "event.incident.acknowledged": {"id": "di-ack", "en": "acknowledged"},
    "event.incident.escalated": {"id": "dieskalasi ke level {level}", "en": "escalated to level {level}"},
    # --- notifications to people away from the screen (issue 25): short, for a phone
    "notify.title_one": {"id": "OPSMON #{id} {regency}: eskalasi L{level}", "en": "OPSMON #{id} {regency}: escalation L{level}"},
    "notify.title_many": {"id": "OPSMON: {n} insiden belum di-ack (L{level})", "en": "OPSMON: {n} incidents unacknowledged (L{level})"},
    "notify.unacked": {"id": "Belum di-ack, eskalasi level {level}", "en": "Not acknowledged, escalation level {level}"},
    "notify.repeat": {"id": " (ulang {n})", "en": " (repeat {n})"},
    "notify.final": {"id": "Masih belum di-ack sejak {time} {tz}; tidak ada pengingat lagi", "en": "Still unacknowledged since {time} {tz}; no more reminders"},
    "notify.acked": {"id": "Di-ack oleh {who} pukul {time}", "en": "Acknowledged by {who} at {time}"},
    # --- shift handover (`opsmon handover`)
    "handover.title": {
        "id": "SERAH TERIMA JAGA meja {desk}, shift {shift} (mulai {began})",
        "en": "SHIFT HANDOVER desk {desk}, shift {shift} (began {began})",
    },
    "handover.open": {"id": "Insiden terbuka: {n}", "en": "Open incidents: {n}"},
    "handover.unacked": {"id": "BELUM di-ack", "en": "NOT acknowledged"},
    "handover.acked": {"id": "di-ack {who}", "en": "acknowledged by {who}"},
    "handover.owner": {"id": "penanggung jawab {owner}", "en": "owner {owner}"},
    "handover.deadline": {"id": "tenggat {time}", "en": "due {time}"},  # the queue's "Tenggat" column
    "handover.blocked": {"id": "Tahapan terhambat: {n}", "en": "Stages blocked: {n}"},
    "handover.confirmed": {"id": "serah terima dikonfirmasi (seq {seq})", "en": "handover confirmed (seq {seq})"},
    "handover.accepted": {"id": "serah terima diterima (seq {seq})", "en": "handover accepted (seq {seq})"},
    "event.shift.handover": {"id": "serah terima jaga", "en": "shift handover"},
    # --- the handover screen (H)
    "key.handover": {"id": "Serah terima", "en": "Handover"},
    "palette.handover": {"id": "Serah terima jaga: yang masih terbuka di meja ini", "en": "Shift handover: what this desk leaves open"},
    "key.handover_confirm": {"id": "Serahkan", "en": "Hand over"},
    "key.handover_accept": {"id": "Terima", "en": "Take over"},
    "handover.scope": {"id": "Wilayah: {regencies}", "en": "Regencies: {regencies}"},
    "handover.none_yet": {"id": "Shift ini belum diserahkan.", "en": "This shift has not been handed over yet."},
    "handover.done.confirm": {"id": "Diserahkan {time} oleh {who}", "en": "Handed over {time} by {who}"},
    "handover.done.accept": {"id": "Diterima {time} oleh {who}", "en": "Taken over {time} by {who}"},
    # A dialog's prompt is one line of at most 58 columns at 80x24: the shift is on the screen behind it.
    "handover.ask.confirm": {"id": "Serahkan jaga meja {desk} ({n} insiden terbuka)?", "en": "Hand over desk {desk} ({n} open incidents)?"},
    "handover.ask.accept": {"id": "Terima jaga meja {desk} ({n} insiden terbuka)?", "en": "Take over desk {desk} ({n} open incidents)?"},
    "handover.readonly": {
        "id": "Token penampil hanya boleh melihat: serah terima dikonfirmasi dan diterima oleh petugas jaga.",
        "en": "A viewer token may only look: the officers on duty confirm and accept the handover.",
    },
    "handover.offline": {"id": "Serah terima tidak terkirim: tidak terhubung ke server.", "en": "Handover not sent: not connected to the server."},
    "handover.refused": {"id": "Serah terima ditolak: {reason}", "en": "Handover refused: {reason}"},
    "handover.told": {"id": "Serah terima jaga meja {desk}: {what}", "en": "Shift handover, desk {desk}: {what}"},
    "notify.exercise": {"id": "[LATIHAN {name}]", "en": "[EXERCISE {name}]"},
    "notify.more": {"id": "+{n} insiden lain belum di-ack: pesan berikutnya", "en": "+{n} more unacknowledged: next message"},
    "notify.keys": {"id": "Kunci: {keys}", "en": "Keys: {keys}"},
    "notify.test_ok": {"id": "{person} saluran {channel} ({scheme}): terkirim: {answer}", "en": "{person} channel {channel} ({scheme}): ok: {answer}"},
    "notify.test_failed": {"id": "{person} saluran {channel} ({scheme}): GAGAL: {answer}", "en": "{person} channel {channel} ({scheme}): FAILED: {answer}"},
    "notify.test_title": {"id": "OPSMON: pesan uji", "en": "OPSMON: test message"},
    "notify.test_body": {
        "id": "Pesan uji untuk {name} dari {post}. Jika pesan ini sampai, saluran ini siap untuk malam ini.",
        "en": "Test message for {name} from {post}. If this arrives, this channel is ready for the night.",
    },
    "event.notification.sent": {"id": "pemberitahuan L{level} terkirim", "en": "level {level} notification sent"},
    "event.notification.failed": {"id": "pemberitahuan L{level} GAGAL", "en": "level {level} notification FAILED"},
    "event.incident.noted": {"id": "catatan", "en": "note"},
    "event.incident.resolved": {"id": "diselesaikan", "en": "resolved"},
    "event.incident.reopened": {"id": "dibuka kembali", "en": "reopened"},
    "event.stage.updated": {"id": "tahap diperbarui", "en": "stage updated"},
    # --- triage (issue 10) ------------------------------------------------------------
    "event.incident.duplicate": {"id": "laporan ulang", "en": "repeat report"},
    "event.incident.snoozed": {"id": "ditunda", "en": "snoozed"},
    "event.incident.unsnoozed": {"id": "penundaan berakhir", "en": "snooze ended"},
    "event.incident.assigned": {"id": "penanggung jawab diganti", "en": "owner changed"},
    "event.incident.severity_changed": {"id": "tingkat diubah", "en": "severity changed"},
    "event.incident.unacknowledged": {"id": "ack dibatalkan", "en": "un-acknowledged"},
    "event.incident.merged": {"id": "digabung", "en": "merged"},
    "event.released": {"id": "dilepas (tanpa penanggung jawab)", "en": "released"},
    "event.until": {"id": "sampai {time}", "en": "until {time}"},
    "event.into": {"id": "ke #{id}", "en": "into #{id}"},
    "status.snoozed": {"id": "TUNDA", "en": "SNOOZED"},
    "status.merged": {"id": "GABUNG", "en": "MERGED"},
    # `opsmon list` and `opsmon show` (--lang id); the English is what they have always printed.
    "list.col.id": {"id": "ID", "en": "ID"},
    "list.col.status": {"id": "STATUS", "en": "STATUS"},
    "list.col.severity": {"id": "TINGKAT", "en": "SEVERITY"},
    "list.col.regency": {"id": "WILAYAH", "en": "REGENCY"},
    "list.col.reports": {"id": "LAPORAN", "en": "REPORTS"},
    "list.col.owner": {"id": "PENANGGUNG JAWAB", "en": "OWNER"},
    "list.col.reported": {"id": "DILAPORKAN", "en": "REPORTED"},
    "list.col.title": {"id": "JUDUL", "en": "TITLE"},
    "list.overdue": {"id": "LEWAT BATAS", "en": "OVERDUE"},
    "list.none": {"id": "tidak ada insiden", "en": "no incidents"},
    "show.status": {"id": "status", "en": "status"},
    "show.state": {
        "id": "{status}, tingkat {severity}, level {level}, laporan x{reports}",
        "en": "{status}, severity {severity}, level {level}, reports x{reports}",
    },
    "show.where": {"id": "lokasi", "en": "where"},
    "show.category": {"id": "kategori", "en": "category"},
    "show.reported": {"id": "dilaporkan", "en": "reported"},
    "show.reported_by": {"id": "{at} oleh {who}", "en": "{at} by {who}"},
    "show.owner": {"id": "pj", "en": "owner"},
    "show.ack_due": {"id": "batas ack", "en": "ack due"},
    "show.next_escalation": {"id": ", eskalasi berikut {at}", "en": ", next escalation {at}"},
    "show.detail": {"id": "rincian", "en": "detail"},
    "show.timeline": {"id": "riwayat:", "en": "timeline:"},
    "queue.wakes": {"id": "s.d. {time}", "en": "until {time}"},
    "queue.filter.mine": {"id": "milik saya", "en": "mine"},
    "col.owner": {"id": "Penanggung jawab", "en": "Owner"},
    "col.owner_short": {"id": "PJ", "en": "Owner"},
    "detail.owner": {"id": "Penanggung jawab", "en": "Owner"},
    "detail.snoozed": {"id": "Ditunda s.d.", "en": "Snoozed until"},
    "detail.merged_into": {"id": "Digabung ke", "en": "Merged into"},
    "detail.reports": {"id": "Laporan ({count})", "en": "Reports ({count})"},
    "detail.report_first": {"id": "laporan pertama", "en": "first report"},
    "detail.report_merged": {"id": "dari insiden yang digabung", "en": "from a merged incident"},
    "key.snooze": {"id": "Tunda", "en": "Snooze"},
    "key.take": {"id": "Ambil", "en": "Take"},
    "key.assign": {"id": "Serahkan", "en": "Assign"},
    "key.change_severity": {"id": "Ubah tingkat", "en": "Change severity"},
    "key.unack": {"id": "Batal ack", "en": "Un-ack"},
    "key.merge": {"id": "Gabung", "en": "Merge"},
    "key.mine": {"id": "Milik saya", "en": "Mine"},
    "palette.snooze": {
        "id": "Tunda insiden terpilih (atau yang ditandai): tanpa eskalasi beberapa menit",
        "en": "Snooze the selected (or marked) incidents: no escalation for some minutes",
    },
    "palette.take": {
        "id": "Ambil insiden terpilih (atau yang ditandai) sebagai penanggung jawab",
        "en": "Take the selected (or marked) incidents as their owner",
    },
    "palette.assign": {"id": "Serahkan insiden terpilih (atau yang ditandai) ke orang lain", "en": "Hand the selected (or marked) incidents to someone"},
    "palette.change_severity": {"id": "Ubah tingkat insiden terpilih", "en": "Change the selected incident's severity"},
    "palette.unack": {"id": "Batalkan ack insiden terpilih", "en": "Un-acknowledge the selected incident"},
    "palette.merge": {"id": "Gabungkan insiden terpilih ke insiden lain", "en": "Merge the selected incident into another"},
    "palette.mine": {"id": "Hanya milik saya atau wilayah saya (nyala/mati)", "en": "Only mine or my regencies (on/off)"},
    "modal.snooze": {"id": "Tunda {what}: berapa menit (1-1440) dan mengapa", "en": "Snooze {what}: how many minutes (1-1440), and why"},
    "modal.minutes": {"id": "Menit", "en": "Minutes"},
    "modal.minutes_bad": {"id": "Menit: bilangan 1 sampai 1440.", "en": "Minutes: a whole number from 1 to 1440."},
    "modal.assign": {"id": "Serahkan {what} kepada (petugas yang dikenal server):", "en": "Hand {what} to (the people the server knows):"},
    "modal.name": {"id": "Nama", "en": "Name"},
    "modal.agency": {"id": "Instansi (KPU, Bawaslu, Polri)", "en": "Agency (KPU, Bawaslu, Polri)"},
    "modal.agency_bad": {"id": "Instansi: KPU, Bawaslu atau Polri.", "en": "Agency: KPU, Bawaslu or Polri."},
    "modal.name_bad": {"id": "Nama wajib diisi.", "en": "A name is required."},
    "modal.severity": {"id": "Tingkat baru untuk insiden #{id}", "en": "New severity for incident #{id}"},
    "modal.severity_note": {"id": "Ubah #{id} menjadi {severity}: alasan (wajib)", "en": "Change #{id} to {severity}: reason (required)"},
    "modal.unack": {"id": "Batalkan ack insiden #{id}: alasan (wajib)", "en": "Un-acknowledge incident #{id}: reason (required)"},
    "modal.merge": {"id": "Gabungkan #{id} ke insiden:", "en": "Merge #{id} into incident:"},
    "modal.merge_none": {"id": "Tidak ada insiden lain yang belum selesai untuk digabung.", "en": "No other unresolved incident to merge into."},
    "modal.pick_hint": {"id": "j/k ↑/↓: pilih · enter: ambil · esc: batal", "en": "j/k ↑/↓: move · enter: choose · esc: cancel"},
    "modal.what_one": {"id": "insiden #{id}", "en": "incident #{id}"},
    "modal.what_many": {"id": "{count} insiden ditandai", "en": "{count} marked incidents"},
    "done.snooze": {"id": "#{id} ditunda oleh {who}", "en": "#{id} snoozed by {who}"},
    "done.take": {"id": "#{id} diambil oleh {who}", "en": "#{id} taken by {who}"},
    "done.assign": {"id": "#{id} diserahkan ({who})", "en": "#{id} handed over ({who})"},
    "done.severity": {"id": "Tingkat #{id} diubah oleh {who}", "en": "#{id} severity changed by {who}"},
    "done.unack": {"id": "Ack #{id} dibatalkan oleh {who}", "en": "#{id} un-acknowledged by {who}"},
    "done.merge": {"id": "#{id} digabung oleh {who}", "en": "#{id} merged by {who}"},
    "done.bulk_all": {"id": "{verb}: {ok} dari {total} berhasil", "en": "{verb}: {ok} of {total} done"},
    "done.bulk_refused": {"id": "{verb}: {ok} dari {total} berhasil; ditolak: {refused}", "en": "{verb}: {ok} of {total} done; refused: {refused}"},
    # --- modals -----------------------------------------------------------------
    "modal.escalate": {"id": "Eskalasi insiden #{id} (catatan opsional)", "en": "Escalate incident #{id} (optional note)"},
    "modal.note": {"id": "Catatan untuk insiden #{id}", "en": "Note on incident #{id}"},
    "modal.resolve": {"id": "Selesaikan insiden #{id}: catatan penyelesaian (wajib)", "en": "Resolve incident #{id}: resolution note (required)"},
    "modal.reopen": {"id": "Buka kembali insiden #{id}: alasan (wajib)", "en": "Reopen incident #{id}: reason (required)"},
    "modal.placeholder": {"id": "Ketik catatan", "en": "Type a note"},
    "modal.hint": {"id": "enter: kirim · ctrl+j: baris baru · esc: batal", "en": "enter: send · ctrl+j: new line · esc: cancel"},
    "modal.required": {"id": "Catatan wajib diisi.", "en": "A note is required."},
    "modal.count": {"id": "{length}/{max} karakter", "en": "{length}/{max} characters"},
    "modal.too_long": {
        "id": "Terlalu panjang: {length} karakter, paling banyak {max}. Pendekkan dulu; teks tetap di sini.",
        "en": "Too long: {length} characters, at most {max}. Shorten it first; the text stays here.",
    },
    "modal.sending": {"id": "mengirim...", "en": "sending..."},
    "modal.discard": {"id": "Buang catatan yang sudah diketik? (y/n)", "en": "Throw away the note you typed? (y/n)"},
    "modal.quit": {
        "id": "{count} perintah belum dijawab server. Tetap keluar? (y/n)",
        "en": "{count} command(s) not yet answered by the server. Quit anyway? (y/n)",
    },
    "help.title": {"id": "Tombol", "en": "Keys"},
    "help.close": {"id": "esc atau ?: tutup", "en": "esc or ?: close"},
    "help.readonly": {"id": "Mode dinding / hanya-baca: tombol tindakan tidak aktif.", "en": "Wall / read-only mode: action keys are off."},
    # --- key descriptions (footer, help, palette) ---------------------------------
    "key.down": {"id": "Turun", "en": "Down"},
    "key.up": {"id": "Naik", "en": "Up"},
    "key.top": {"id": "Ke atas (paling mendesak)", "en": "Top (most urgent)"},
    "key.bottom": {"id": "Ke bawah", "en": "Bottom"},
    "key.half_down": {"id": "Turun setengah layar", "en": "Half a page down"},
    "key.half_up": {"id": "Naik setengah layar", "en": "Half a page up"},
    "key.page_down": {"id": "Turun satu layar", "en": "Page down"},
    "key.page_up": {"id": "Naik satu layar", "en": "Page up"},
    "key.redraw": {"id": "Gambar ulang layar", "en": "Redraw the screen"},
    "key.open": {"id": "Buka detail", "en": "Open detail"},
    "key.ack": {"id": "Ack", "en": "Acknowledge"},
    "key.escalate": {"id": "Eskalasi", "en": "Escalate"},
    "key.note": {"id": "Catatan", "en": "Note"},
    "key.resolve": {"id": "Selesaikan", "en": "Resolve"},
    "key.reopen": {"id": "Buka lagi", "en": "Reopen"},
    "key.mark": {"id": "Tandai", "en": "Mark"},
    "key.filter": {"id": "Saring", "en": "Filter"},
    "key.severity": {"id": "Tingkat", "en": "Severity"},
    "key.unacked": {"id": "Belum ack", "en": "Unacked"},
    "key.regency": {"id": "Fokus wilayah ke-{n}", "en": "Focus regency {n}"},
    "key.regency_keys": {"id": "Fokus wilayah 1-10", "en": "Focus regency 1-10"},
    "key.next_regency": {"id": "Wilayah berikut", "en": "Next regency"},
    "key.prev_regency": {"id": "Wilayah sebelumnya", "en": "Previous regency"},
    "key.clear": {"id": "Hapus fokus", "en": "Clear focus"},
    "key.back": {"id": "Kembali", "en": "Back"},
    "key.help": {"id": "Bantuan", "en": "Help"},
    "key.palette": {"id": "Palet perintah", "en": "Command palette"},
    "key.quit": {"id": "Keluar", "en": "Quit"},
    "key.yes": {"id": "Ya", "en": "Yes"},
    "key.no": {"id": "Tidak", "en": "No"},
    "key.send": {"id": "Kirim", "en": "Send"},
    "key.newline": {"id": "Baris baru", "en": "New line"},
    "key.cancel": {"id": "Batal", "en": "Cancel"},
    # palette-only descriptions
    "palette.ack": {"id": "Ack insiden terpilih (atau semua yang ditandai)", "en": "Acknowledge the selected incident (or all marked)"},
    "palette.escalate": {"id": "Eskalasi insiden terpilih", "en": "Escalate the selected incident"},
    "palette.note": {"id": "Tambah catatan pada insiden terpilih", "en": "Add a note to the selected incident"},
    "palette.resolve": {"id": "Selesaikan insiden terpilih (catatan wajib)", "en": "Resolve the selected incident (note required)"},
    "palette.reopen": {"id": "Buka kembali insiden terpilih", "en": "Reopen the selected incident"},
    "palette.mark": {"id": "Tandai/lepas insiden terpilih", "en": "Mark/unmark the selected incident"},
    "palette.open": {"id": "Buka detail insiden terpilih", "en": "Open the selected incident's detail"},
    "palette.filter": {"id": "Saring antrian dengan teks", "en": "Filter the queue by text"},
    "palette.severity": {"id": "Ganti saringan tingkat keparahan", "en": "Cycle the severity filter"},
    "palette.unacked": {"id": "Hanya yang belum di-ack (nyala/mati)", "en": "Unacknowledged only (on/off)"},
    "palette.focus": {"id": "Fokus wilayah: {name}", "en": "Focus regency: {name}"},
    "palette.clear": {"id": "Hapus fokus wilayah dan saringan", "en": "Clear regency focus and filters"},
    "palette.help": {"id": "Tampilkan semua tombol", "en": "Show every key"},
    "palette.top": {"id": "Ke insiden paling mendesak (atas antrian)", "en": "Go to the most urgent incident (top of the queue)"},
    "palette.redraw": {"id": "Gambar ulang seluruh layar", "en": "Redraw the whole screen"},
    "palette.placeholder": {"id": "Cari perintah…", "en": "Search for commands…"},
    "palette.no_matches": {"id": "Tidak ada yang cocok", "en": "No matches found"},
    "palette.quit": {"id": "Keluar dari opsmon", "en": "Quit opsmon"},
    # --- outcomes ---------------------------------------------------------------
    "done.ack": {"id": "#{id} di-ack oleh {who}", "en": "#{id} acknowledged by {who}"},
    "done.escalate": {"id": "#{id} dieskalasi oleh {who}", "en": "#{id} escalated by {who}"},
    "done.note": {"id": "Catatan pada #{id} tersimpan ({who})", "en": "Note on #{id} saved ({who})"},
    "done.resolve": {"id": "#{id} diselesaikan oleh {who}", "en": "#{id} resolved by {who}"},
    "done.reopen": {"id": "#{id} dibuka kembali oleh {who}", "en": "#{id} reopened by {who}"},
    "done.bulk": {"id": "{ok} dari {total} insiden di-ack", "en": "{ok} of {total} incidents acknowledged"},
    "sending.offline": {
        "id": "Terputus: perintah untuk #{id} dikirim saat tersambung kembali",
        "en": "Offline: the command for #{id} will be sent on reconnect",
    },
    "refused.title": {"id": "Ditolak", "en": "Refused"},
    "refused.acknowledged": {"id": "#{id}: sudah di-ack oleh {who} {time}", "en": "#{id}: already acknowledged by {who} {time}"},
    "refused.resolved": {"id": "#{id}: sudah diselesaikan oleh {who} {time}", "en": "#{id}: already resolved by {who} {time}"},
    "refused.open": {"id": "#{id}: belum diselesaikan (status {status})", "en": "#{id}: not resolved (status {status})"},
    "refused.forbidden": {"id": "#{id}: tidak berwenang ({message})", "en": "#{id}: not allowed ({message})"},
    "refused.not_found": {"id": "#{id}: tidak ditemukan di server", "en": "#{id}: not found on the server"},
    "refused.invalid": {"id": "#{id}: ditolak server ({message})", "en": "#{id}: refused by the server ({message})"},
    "refused.rate_limited": {"id": "#{id}: terlalu cepat, coba lagi ({message})", "en": "#{id}: too fast, try again ({message})"},
    "refused.reason": {"id": "#{id}: ditolak: {reason}", "en": "#{id}: refused: {reason}"},
    "refused.other": {"id": "#{id}: gagal ({message})", "en": "#{id}: failed ({message})"},
    "refused.lost": {"id": "#{id}: tidak terkirim ({message})", "en": "#{id}: not sent ({message})"},
    "nothing.selected": {"id": "Tidak ada insiden terpilih.", "en": "No incident selected."},
    "nothing.readonly": {"id": "Mode hanya-baca: tidak ada tindakan.", "en": "Read-only mode: no actions."},
    "nothing.regency": {"id": "Tidak ada wilayah ke-{n}.", "en": "There is no regency {n}."},
    "marked": {"id": "#{id} ditandai ({count})", "en": "#{id} marked ({count})"},
    "unmarked": {"id": "#{id} tidak ditandai ({count})", "en": "#{id} unmarked ({count})"},
    "reconnected": {"id": "Tersambung kembali.", "en": "Reconnected."},
    "reconnected_to": {"id": "Tersambung kembali, ke server {server}.", "en": "Reconnected, to server {server}."},
    "alert.fast": {
        "id": "LATIHAN x{speed}: {critical} kritis baru, {escalated} eskalasi dalam {seconds} detik terakhir (semua di antrian)",
        "en": "EXERCISE x{speed}: {critical} new critical, {escalated} escalations in the last {seconds} seconds (all in the queue)",
    },
    "alert.critical": {"id": "KRITIS baru #{id} {regency}: {title}", "en": "New CRITICAL #{id} {regency}: {title}"},
    "alert.jump": {"id": " (g: ke atas)", "en": " (g: top)"},  # not on the wall, where g does nothing
    "alert.escalated": {
        "id": "ESKALASI level {level} #{id} {regency}: {title} ({who})",
        "en": "ESCALATED to level {level} #{id} {regency}: {title} ({who})",
    },
    "alert.woke": {"id": "PENUNDAAN BERAKHIR #{id} {regency}: {title}", "en": "SNOOZE ENDED #{id} {regency}: {title}"},
    # The notice line (opsmon/tui/widgets/notices.py): many alerts of a kind on one line.
    "notice.group.critical": {"id": "{count} kritis baru: {ids}", "en": "{count} new critical: {ids}"},
    "notice.group.escalated": {"id": "{count} eskalasi baru: {ids}", "en": "{count} new escalations: {ids}"},
    "notice.group.failed": {"id": "{count} pemberitahuan GAGAL terkirim: {ids}", "en": "{count} notifications FAILED: {ids}"},
    "alert.failed": {
        "id": "Pemberitahuan L{level} ke {person} ({scheme}) GAGAL: #{id} {regency}",
        "en": "Level {level} notification to {person} ({scheme}) FAILED: #{id} {regency}",
    },
    "notice.group.woke": {"id": "{count} penundaan berakhir: {ids}", "en": "{count} snoozes ended: {ids}"},
    "notice.more": {"id": "dan {count} pemberitahuan lain", "en": "and {count} more notices"},
    "cursor.moved": {"id": "#{gone} tidak ada lagi di antrian; kursor di #{id}", "en": "#{gone} left the queue; the cursor is on #{id}"},
    # --- refusal reasons (translate_refusal; codes in docs/protocol.md) ------------
    "reason.not_found": {"id": "insiden {incident} tidak ada di server", "en": "no incident {incident}"},
    "reason.unknown_regency": {"id": "wilayah {regency} tidak dikenal server", "en": "unknown regency {regency}"},
    "reason.unknown_category": {"id": "kategori {category} tidak dikenal server", "en": "unknown category {category}"},
    "reason.unknown_stage": {"id": "tahap {stage} tidak dikenal server", "en": "unknown stage {stage}"},
    "reason.unknown_severity": {"id": "tingkat {severity} tidak dikenal server", "en": "unknown severity {severity}"},
    "reason.scope": {
        "id": "token Anda hanya berwenang di wilayah {regencies}, bukan {regency}",
        "en": "your token may act only on regencies {regencies}, not {regency}",
    },
    "reason.read_only": {"id": "token {role} hanya boleh membaca", "en": "this {role} token may only read"},
    "reason.admin_only": {
        "id": "token {role} tidak bisa: hanya token admin pelatih yang menjeda, melanjutkan atau mengakhiri latihan",
        "en": "this {role} token cannot: only the trainer's admin token pauses, resumes or ends an exercise",
    },
    "reason.notify_admin_only": {
        "id": "token {role} tidak bisa: hanya token admin yang mengirim pesan uji notifikasi",
        "en": "this {role} token cannot: only an admin token sends a test notification",
    },
    "reason.unknown_person": {"id": "tidak ada orang bernama {person} di [[people]] server", "en": "no person named {person} in the server's [[people]]"},
    "reason.no_channels": {
        "id": "{person} tidak punya saluran (channels_file): tidak ada yang bisa dikirimi",
        "en": "{person} has no channels (channels_file): nothing to send to",
    },
    "reason.not_exercise": {"id": "server ini melayani malam sungguhan, bukan latihan", "en": "this server runs a real night, not an exercise"},
    "reason.exercise_ended": {
        "id": "latihan sudah diakhiri: catatannya dibekukan untuk laporan pasca-latihan",
        "en": "the exercise has ended: its record is frozen for the after-action report",
    },
    "reason.inject_admin_only": {
        "id": "token {role} tidak bisa: hanya token admin pelatih yang mengirim inject",
        "en": "this {role} token cannot: only the trainer's admin token sends an inject",
    },
    "reason.inject_not_exercise": {
        "id": "server ini melayani malam sungguhan: inject hanya untuk latihan",
        "en": "this server runs a real night: an inject is for a training exercise only",
    },
    "reason.exercise_state": {"id": "latihan tidak bisa {action}: sedang {state}", "en": "cannot {action} the exercise: it is {state}"},
    "reason.exercise.pause": {"id": "dijeda", "en": "pause"},
    "reason.exercise.resume": {"id": "dilanjutkan", "en": "resume"},
    "reason.exercise.end": {"id": "diakhiri", "en": "end"},
    "reason.exercise.running": {"id": "berjalan", "en": "running"},
    "reason.exercise.paused": {"id": "dijeda", "en": "paused"},
    "reason.exercise.ended": {"id": "sudah diakhiri", "en": "ended"},
    "reason.blank": {"id": "{field} tidak boleh kosong", "en": "{field} must not be blank"},
    "reason.too_long": {"id": "{field} paling panjang {max} karakter", "en": "{field} may be at most {max} characters"},
    "reason.control_character": {
        "id": "{field} berisi karakter kendali ({characters}); hanya teks biasa yang diterima",
        "en": "{field} holds control characters ({characters}); only printable text is allowed",
    },
    "reason.done_exceeds_total": {
        "id": "{done} melebihi total {total} untuk {regency} pada tahap {stage}",
        "en": "done {done} is more than the {total} that {regency} counts to in {stage}",
    },
    "reason.note_required": {"id": "{command} wajib disertai catatan", "en": "{command} needs a note"},
    "reason.already": {"id": "sudah {status} oleh {by} {at}", "en": "already {status} by {by} {at}"},
    "reason.not_resolved": {"id": "belum diselesaikan (status {status})", "en": "not resolved (status {status})"},
    "reason.rate_limited": {
        "id": "terlalu cepat: lebih dari {rate} perintah per detik untuk token {role}, coba lagi",
        "en": "more than {rate} commands a second for {role} tokens; slow down",
    },
    "reason.unavailable": {
        "id": "server tidak dapat menyimpan, tidak ada yang berubah; kirim lagi ({problem})",
        "en": "the server could not save it, nothing changed; send it again ({problem})",
    },
    "reason.notes_full": {
        "id": "insiden {incident} sudah memuat {max} catatan, batas per insiden",
        "en": "incident {incident} already holds {max} notes, the most one incident may",
    },
    "reason.page_it": {
        "id": "malam ini memuat {incidents} insiden, lebih dari {most} dalam satu jawaban: minta per halaman (after, limit, whole)",
        "en": "the night holds {incidents} incidents, more than {most} in one answer: ask in pages (after, limit, whole)",
    },
    "reason.not_snoozed": {"id": "insiden {incident} tidak sedang ditunda", "en": "incident {incident} is not snoozed"},
    "reason.not_acknowledged": {"id": "belum di-ack (status {status})", "en": "not acknowledged (status {status})"},
    "reason.unchanged": {"id": "{field} sudah {value}", "en": "{field} is already {value}"},
    "reason.unknown_desk": {"id": "meja {desk} tidak dikenal (KPU, Bawaslu, Polri)", "en": "unknown desk {desk} (KPU, Bawaslu, Polri)"},
    "reason.unknown_agency": {"id": "instansi {agency} tidak dikenal (KPU, Bawaslu, Polri)", "en": "unknown agency {agency} (KPU, Bawaslu, Polri)"},
    "reason.same_incident": {"id": "insiden {incident} tidak dapat digabung ke dirinya sendiri", "en": "incident {incident} cannot be merged into itself"},
    "reason.into_resolved": {"id": "insiden tujuan {into} sudah diselesaikan", "en": "incident {into} to merge into is already resolved"},
    "reason.bad_field": {"id": "isian {field} tidak sah ({problem})", "en": "field {field} is not valid ({problem})"},
    "reason.status.open": {"id": "dilaporkan", "en": "reported"},
    "reason.status.acknowledged": {"id": "di-ack", "en": "acknowledged"},
    "reason.status.resolved": {"id": "diselesaikan", "en": "resolved"},
    "reason.command.resolve": {"id": "Penyelesaian", "en": "Resolving"},
    "reason.command.reopen": {"id": "Pembukaan kembali", "en": "Reopening"},
    "reason.command.snooze": {"id": "Penundaan", "en": "Snoozing"},
    "reason.command.severity": {"id": "Perubahan tingkat", "en": "Changing the severity"},
    "reason.command.unack": {"id": "Pembatalan ack", "en": "Un-acknowledging"},
    "regency.correction": {"id": "KOREKSI {stage}: {was} menjadi {now} ({time}, {who})", "en": "CORRECTION {stage}: {was} to {now} ({time}, {who})"},
    "sitrep.correction": {"id": "KOREKSI {regency} {stage}: {was} menjadi {now} ({time})", "en": "CORRECTION {regency} {stage}: {was} to {now} ({time})"},
    "reason.command.stage": {"id": "Koreksi progres", "en": "Correcting progress"},
    "reason.count_lower": {
        "id": "{regency} {stage} sudah {current} selesai; {done} lebih kecil: kirim sebagai koreksi (--correct dengan --note alasannya) bila angka lama salah",
        "en": "{regency} {stage} already has {current} done; {done} is lower: send it as a correction (--correct with a --note why) if the count was wrong",
    },
    "reason.stage_blocked": {
        "id": "{regency} {stage} sedang TERHAMBAT ({note}); nyatakan hambatan selesai sebagai koreksi (--correct dengan --note alasannya)",
        "en": "{regency} {stage} is blocked ({note}); say the block is lifted as a correction (--correct with a --note why)",
    },
    "reason.field.owner": {"id": "Penanggung jawab", "en": "Owner"},
    "reason.field.severity": {"id": "Tingkat", "en": "Severity"},
    "reason.field.to.name": {"id": "Nama penanggung jawab", "en": "Owner's name"},
    "reason.field.incident.title": {"id": "Judul", "en": "Title"},
    "reason.field.incident.detail": {"id": "Uraian", "en": "Details"},
    "reason.field.incident.location": {"id": "Lokasi", "en": "Location"},
    "reason.field.text": {"id": "Catatan", "en": "Note text"},
    "reason.field.note": {"id": "Catatan", "en": "Note"},
    "reason.field.client": {"id": "Nama klien", "en": "Client name"},
    "cli.refused": {"id": "galat: ditolak server ({code}): {reason}", "en": "error: refused by the server: {code}: {reason}"},
    # --- exit lines (printed by run_tui, one line each) ---------------------------
    "exit.refused": {"id": "opsmon: token ditolak: {reason}", "en": "opsmon: token refused: {reason}"},
    # why a token was refused (the server's `reason` on an `unauthorized` error), as the other refusal reasons
    "reason.token_refused": {"id": "token tidak dikenal atau sudah dicabut", "en": "unknown or revoked token"},
    "reason.token_revoked": {"id": "token dicabut {at}", "en": "token revoked {at}"},
    "reason.token_expired": {"id": "token kedaluwarsa {at}", "en": "token expired {at}"},
    "exit.unreachable": {"id": "opsmon: tidak dapat tersambung: {reason}", "en": "opsmon: cannot connect: {reason}"},
    # --- why a connection failed (opsmon/client/failures.py classify_failure; detail is the OS's or TLS's own words)
    "connect.tls_untrusted": {
        "id": "{url}: sertifikat server tidak dipercaya ({detail}); berikan sertifikat CA posko dengan --cafile (atau [client] cafile di konfigurasi)",
        "en": "{url}: the server's certificate is not trusted ({detail}); give the post's CA certificate with --cafile (or [client] cafile in the config)",
    },
    "connect.tls_failed": {
        "id": "{url}: TLS gagal ({detail}): apakah server punya sertifikat? (tanpa sertifikat server memakai ws://, bukan wss://)",
        "en": "{url}: TLS failed ({detail}): does the server have a certificate? (without one it speaks ws://, not wss://)",
    },
    "connect.not_websocket_url": {
        "id": "{url!r} bukan URL websocket (seharusnya ws://HOST:PORT/ws)",
        "en": "{url!r} is not a websocket URL (expected ws://HOST:PORT/ws)",
    },
    "connect.http_status": {
        "id": "{url} menjawab HTTP {status}, bukan websocket: apakah path-nya /ws?",
        "en": "{url} answered HTTP {status}, not a websocket: is the path /ws?",
    },
    "connect.proxy_down": {
        "id": "{url} menjawab HTTP {status} dari proksi: server di belakang proksi mati atau tidak menjawab (coba lagi sebentar; periksa opsmon-server di belakangnya)",
        "en": "{url} answered HTTP {status} from a proxy: the server behind the proxy is down or not answering (try again shortly; check the opsmon-server behind it)",
    },
    "connect.http_refused": {"id": "{url} menolak websocket (HTTP {status}): {detail}", "en": "{url} refused the websocket (HTTP {status}): {detail}"},
    "connect.timeout": {"id": "{url} tidak menjawab tepat waktu", "en": "{url} did not answer in time"},
    "connect.refused": {
        "id": "tidak ada yang mendengarkan di {url} (sambungan ditolak): apakah opsmon-server berjalan?",
        "en": "nothing is listening at {url} (connection refused): is opsmon-server running?",
    },
    # `opsmon list` and `opsmon show` (opsmon/feeds/triage.py): English unless --lang id.
    "cli.col.id": {"id": "NO", "en": "ID"},
    "cli.col.status": {"id": "STATUS", "en": "STATUS"},
    "cli.col.severity": {"id": "TINGKAT", "en": "SEVERITY"},
    "cli.col.regency": {"id": "WILAYAH", "en": "REGENCY"},
    "cli.col.reports": {"id": "LAPORAN", "en": "REPORTS"},
    "cli.col.owner": {"id": "PJ", "en": "OWNER"},
    "cli.col.reported": {"id": "DILAPORKAN", "en": "REPORTED"},
    "cli.col.title": {"id": "JUDUL", "en": "TITLE"},
    "cli.state.open": {"id": "baru", "en": "open"},
    "cli.state.acknowledged": {"id": "di-ack", "en": "acknowledged"},
    "cli.state.resolved": {"id": "selesai", "en": "resolved"},
    "cli.state.merged": {"id": "gabung>{id}", "en": "merged>{id}"},
    "cli.state.snoozed": {"id": "tunda>{time}", "en": "snoozed>{time}"},
    "cli.state.overdue": {"id": "LEWAT", "en": "OVERDUE"},
    "cli.no_incidents": {"id": "tidak ada insiden", "en": "no incidents"},
    "cli.show.status": {"id": "status", "en": "status"},
    "cli.show.where": {"id": "wilayah", "en": "where"},
    "cli.show.category": {"id": "kategori", "en": "category"},
    "cli.show.reported": {"id": "dilaporkan", "en": "reported"},
    "cli.show.owner": {"id": "PJ", "en": "owner"},
    "cli.show.ack_due": {"id": "batas ack", "en": "ack due"},
    "cli.show.told": {"id": "diberitahu", "en": "told"},
    "cli.show.detail": {"id": "rincian", "en": "detail"},
    "cli.show.status_line": {
        "id": "{state}, tingkat {severity}, level {level}, laporan x{reports}",
        "en": "{state}, severity {severity}, level {level}, reports x{reports}",
    },
    "cli.show.by": {"id": "{time} oleh {who}", "en": "{time} by {who}"},
    "cli.show.next_escalation": {"id": ", eskalasi berikutnya {time}", "en": ", next escalation {time}"},
    "cli.show.timeline": {"id": "riwayat:", "en": "timeline:"},
    # The OS's errors by name (opsmon/client/failures.py classify_failure), for `connect.unreachable`'s detail.
    "os.ECONNRESET": {"id": "sambungan diputus dari seberang", "en": "connection reset by peer"},
    "os.ECONNABORTED": {"id": "sambungan dibatalkan", "en": "connection aborted"},
    "os.EPIPE": {"id": "sambungan terputus saat mengirim", "en": "broken pipe"},
    "os.ETIMEDOUT": {"id": "waktu sambungan habis", "en": "connection timed out"},
    "os.EHOSTUNREACH": {"id": "tidak ada rute ke server", "en": "no route to host"},
    "os.ENETUNREACH": {"id": "jaringan tidak terjangkau", "en": "network is unreachable"},
    "os.ENETDOWN": {"id": "jaringan mati", "en": "network is down"},
    "os.EHOSTDOWN": {"id": "server mati", "en": "host is down"},
    "os.EAI": {"id": "nama server tidak dikenal (DNS)", "en": "unknown server name (DNS)"},
    "connect.unreachable": {"id": "tidak dapat menjangkau {url}: {detail}", "en": "cannot reach {url}: {detail}"},
    "connect.closed": {"id": "{url} menutup sambungan ({code})", "en": "{url} closed the connection ({code})"},
    "connect.not_plain_http": {
        "id": "{url} tidak menjawab dalam HTTP biasa: jika server punya sertifikat, pakai wss:// ({detail})",
        "en": "{url} did not answer in plain HTTP: if the server has a certificate, use wss:// ({detail})",
    },
    "connect.handshake": {"id": "{url} menolak jabat tangan websocket: {detail}", "en": "{url} refused the websocket handshake: {detail}"},
    "connect.other": {"id": "{url}: {detail}", "en": "{url}: {detail}"},
    "connect.server_closed": {"id": "server menutup sambungan ({code}{text})", "en": "server closed the connection ({code}{text})"},
    "actor.system": {"id": "sistem", "en": "system"},
    # --- the province map (and its legend: a word for each shade) -----------------
    "key.map": {"id": "Peta", "en": "Map"},
    "map.title": {"id": "Peta provinsi", "en": "Province map"},
    "map.cond.critical": {"id": "KRITIS blm ack", "en": "CRITICAL unack"},
    "map.cond.escalated": {"id": "ESKALASI", "en": "ESCALATED"},
    "map.cond.blocked": {"id": "TERHAMBAT", "en": "BLOCKED"},
    "map.cond.incidents": {"id": "ada insiden", "en": "incidents"},
    "map.cond.quiet": {"id": "tenang", "en": "quiet"},
    "map.cond.critical_short": {"id": "KRITIS", "en": "CRIT"},
    "map.cond.escalated_short": {"id": "ESKAL", "en": "ESCAL"},
    "map.cond.blocked_short": {"id": "HAMBAT", "en": "BLOCK"},
    "map.cond.incidents_short": {"id": "insiden", "en": "open"},
    "map.cond.quiet_short": {"id": "tenang", "en": "quiet"},
    "map.none": {"id": "Tidak ada data batas wilayah ([province] boundaries).", "en": "No boundary data ([province] boundaries)."},
    # --- the situation report (laporan situasi) -----------------------------------
    "sitrep.title": {"id": "LAPORAN SITUASI No. {number}", "en": "SITUATION REPORT No. {number}"},
    "sitrep.by": {"id": "Dibuat oleh: {who}", "en": "Produced by: {who}"},
    "sitrep.period": {"id": "Periode: sejak {since}", "en": "Period: since {since}"},
    "sitrep.period_all": {"id": "Periode: sejak awal", "en": "Period: from the start"},
    "sitrep.progress": {"id": "Kemajuan", "en": "Progress"},
    "sitrep.tps": {"id": "TPS dihitung: {done} dari {total} ({percent}%)", "en": "TPS counted: {done} of {total} ({percent}%)"},
    "sitrep.kecamatan": {"id": "Kecamatan direkap: {done} dari {total}", "en": "Kecamatan recapitulated: {done} of {total}"},
    "sitrep.plenaries": {"id": "Pleno kab/kota selesai: {done} dari {total}", "en": "Regency plenaries done: {done} of {total}"},
    "sitrep.province": {"id": "Pleno provinsi: {state}", "en": "Province plenary: {state}"},
    "sitrep.province.done": {"id": "selesai", "en": "done"},
    "sitrep.province.blocked": {"id": "TERHAMBAT", "en": "BLOCKED"},
    "sitrep.province.pending": {"id": "belum", "en": "not yet"},
    "sitrep.estimated": {
        "id": "* jumlah TPS perkiraan, belum angka resmi KPU: {regencies}",
        "en": "* estimated TPS count, not yet KPU's official figure: {regencies}",
    },
    "sitrep.regencies": {"id": "Per kabupaten/kota", "en": "Per regency"},
    "sitrep.incidents": {"id": "Insiden dilaporkan: {count}", "en": "Incidents reported: {count}"},
    "sitrep.by_category": {"id": "Per kategori", "en": "By category"},
    "sitrep.by_regency": {"id": "Per wilayah", "en": "By regency"},
    "sitrep.folded": {"id": "Laporan ganda digabung: {count}", "en": "Duplicate reports folded: {count}"},
    "sitrep.urgent": {"id": "Kritis/tinggi masih terbuka: {count}", "en": "Open critical/high: {count}"},
    "sitrep.level": {"id": "eskalasi {level}", "en": "escalated {level}"},
    "sitrep.snoozed": {"id": "TUNDA s.d. {time}", "en": "SNOOZED until {time}"},
    "sitrep.owner": {"id": "Penanggung jawab: {who}", "en": "Owner: {who}"},
    "sitrep.no_owner": {"id": "Penanggung jawab: belum ada", "en": "Owner: none yet"},
    "sitrep.reports": {"id": "{count} laporan", "en": "{count} reports"},
    "sitrep.last_note": {"id": "Catatan {time} {who}: {text}", "en": "Note {time} {who}: {text}"},
    "sitrep.escalations": {"id": "Eskalasi: {count}", "en": "Escalations: {count}"},
    "sitrep.escalation": {"id": "#{id} ke level {level} · {time} · {who}", "en": "#{id} to level {level} · {time} · {who}"},
    "sitrep.system": {"id": "sistem (lewat batas ack)", "en": "system (ack deadline passed)"},
    "sitrep.resolution": {"id": "Penyelesaian: {text}", "en": "Resolution: {text}"},
    # The after-action report (`opsmon exercise report`); a ".one" key is the English singular.
    "aar.title": {"id": "Laporan pasca-latihan: {name}", "en": "After-action report: {name}"},
    "aar.not_exercise": {"id": "bukan latihan", "en": "not an exercise"},
    "aar.session": {
        "id": "Sesi (epoch) {epoch}: {start} s.d. {end} waktu skenario{speed}; {events}. Waktu dalam menit skenario sejak laporan pertama.",
        "en": "Session (epoch) {epoch}: {start} to {end} scenario time{speed}; {events}. Times are scenario minutes from the first report.",
    },
    "aar.speed": {"id": ", pada x{speed}", "en": ", at x{speed}"},
    "aar.events": {"id": "{count} peristiwa", "en": "{count} events"},
    "aar.events.one": {"id": "{count} peristiwa", "en": "{count} event"},
    "aar.post": {"id": "Posko", "en": "The post"},
    "aar.post.columns": {
        "id": "insiden | di-ack | selesai | masih terbuka | batas waktu terlewat | tak pernah di-ack | eskalasi otomatis | sampai ack (median / terlama) | sampai selesai (median / terlama) | ditolak | catatan",
        "en": "incidents | acknowledged | resolved | still open | deadlines missed | never acknowledged | automatic escalations | to ack (median / worst) | to resolve (median / worst) | refusals | notes",
    },
    "palette.inject": {"id": "Inject insiden", "en": "Inject an incident"},
    "palette.inject.help": {
        "id": "pelatih: kirim insiden sekarang sebagai meja lapangan (peserta melihatnya sebagai laporan lapangan)",
        "en": "trainer: send an incident now as a field desk (trainees see a field report)",
    },
    "inject.prompt": {"id": "Inject insiden sebagai meja lapangan", "en": "Inject an incident as a field desk"},
    "inject.desk": {"id": "Meja", "en": "Desk"},
    "inject.regency": {"id": "Wilayah (kode atau nama)", "en": "Regency (code or name)"},
    "inject.category": {"id": "Kategori", "en": "Category"},
    "inject.severity": {"id": "Tingkat", "en": "Severity"},
    "inject.title": {"id": "Judul", "en": "Title"},
    "inject.location": {"id": "Lokasi (boleh kosong)", "en": "Location (optional)"},
    "inject.detail": {"id": "Rincian (boleh kosong)", "en": "Detail (optional)"},
    "inject.hint": {"id": "enter: isian berikutnya, kirim dari isian terakhir · esc: batal", "en": "enter: next field, send from the last · esc: cancel"},
    "inject.bad.desk": {"id": "meja harus KPU, Bawaslu atau Polri", "en": "the desk must be KPU, Bawaslu or Polri"},
    "inject.bad.regency": {"id": "wilayah tidak dikenal: ketik kodenya (6371) atau namanya", "en": "unknown regency: type its code (6371) or name"},
    "inject.bad.category": {"id": "kategori tidak dikenal", "en": "unknown category"},
    "inject.bad.severity": {"id": "tingkat tidak dikenal", "en": "unknown severity"},
    "inject.bad.title": {"id": "judul harus 1 sampai 200 karakter", "en": "the title must be 1 to 200 characters"},
    "inject.trainer_only": {
        "id": "hanya token admin pelatih pada server latihan yang mengirim inject",
        "en": "only the trainer's admin token on an exercise server injects",
    },
    "inject.offline": {"id": "tidak tersambung ke server", "en": "not connected to the server"},
    "inject.sent": {"id": "inject terkirim: insiden #{id} sebagai {desk}", "en": "inject sent: incident #{id} as {desk}"},
    "roster.absent": {"id": "Belum tersambung ({count} dari {expected}): {names}", "en": "Not connected ({count} of {expected}): {names}"},
    "roster.more": {"id": "dan {count} lainnya", "en": "and {count} more"},
    "detail.inject": {"id": "Inject", "en": "Inject"},
    "detail.inject.yes": {
        "id": "dikirim pelatih (peserta melihatnya sebagai laporan lapangan)",
        "en": "sent by the trainer (trainees see a field report)",
    },
    "aar.injects": {"id": "Inject pelatih", "en": "The trainer's injects"},
    "aar.injects.columns": {
        "id": "dikirim | sebagai | insiden | ditangani oleh | ack (menit) | selesai (menit) | terlambat",
        "en": "sent | as | incident | handled by | ack (minutes) | resolved (minutes) | late",
    },
    "aar.injects.nobody": {"id": "belum ada", "en": "nobody yet"},
    "aar.inject": {"id": "inject", "en": "inject"},
    "aar.yes": {"id": "ya", "en": "yes"},
    "aar.no": {"id": "tidak", "en": "no"},
    "aar.trainees": {"id": "Peserta", "en": "Trainees"},
    "aar.trainees.columns": {
        "id": "peserta | ditangani | di-ack | sampai ack (median / terlama) | selesai | sampai selesai (median / terlama) | batas waktu terlewat | eskalasi | ditolak | mencoba ack milik orang lain | catatan",
        "en": "trainee | handled | acked | to ack (median / worst) | resolved | to resolve (median / worst) | deadlines missed | escalated | refused | tried to ack another's | notes",
    },
    "aar.nobody": {"id": "(tidak ada yang menangani insiden)", "en": "(nobody acted on an incident)"},
    "aar.reporters": {"id": "Pelapor lapangan (simulator): {list}", "en": "Field reporters (the simulator): {list}"},
    "aar.reports": {"id": "{count} laporan", "en": "{count} reports"},
    "aar.reports.one": {"id": "{count} laporan", "en": "{count} report"},
    "aar.incidents": {"id": "Insiden", "en": "Incidents"},
    "aar.deadline_missed": {"id": "batas waktu terlewat", "en": "deadline missed"},
    "aar.due": {"id": "{location}. Batas waktu ack {at}; kini {status}.", "en": "{location}. Due for acknowledgement {at}; now {status}."},
    "aar.late": {"id": "terlambat", "en": "late"},
    "aar.step": {"id": "{at} {what}{late} oleh {by}{text}", "en": "{at} {what}{late} by {by}{text}"},
    "aar.refused": {"id": "DITOLAK {command}: {reason}", "en": "REFUSED {command}: {reason}"},
    "aar.written": {
        "id": "laporan {format} atas {incidents} dan {trainees} ditulis ke {path}",
        "en": "{format} report of {incidents} and {trainees} written to {path}",
    },
    "aar.n_incidents": {"id": "{count} insiden", "en": "{count} incidents"},
    "aar.n_incidents.one": {"id": "{count} insiden", "en": "{count} incident"},
    "aar.n_trainees": {"id": "{count} peserta", "en": "{count} trainees"},
    "aar.n_trainees.one": {"id": "{count} peserta", "en": "{count} trainee"},
    "aar.summary": {"id": "Ringkasan", "en": "Summary"},
    "aar.desks": {"id": "Per meja", "en": "Per desk"},
    "aar.desks.columns": {
        "id": "meja | peserta aktif / diharapkan | ditangani | di-ack | sampai ack (median / terlama) | selesai | batas waktu terlewat | ditolak | catatan",
        "en": "desk | trainees active / expected | handled | acked | to ack (median / worst) | resolved | deadlines missed | refused | notes",
    },
    "aar.col.status": {"id": "kehadiran", "en": "attendance"},
    "aar.status.active": {"id": "aktif", "en": "active"},
    "aar.status.handled_nothing": {"id": "tidak menangani apa pun", "en": "handled nothing"},
    "aar.status.never_connected": {"id": "tidak pernah tersambung", "en": "never connected"},
    "aar.status.not_on_roster": {"id": "aktif, tidak ada di daftar peserta", "en": "active, not on the roster"},
    "aar.absent": {"id": "Tidak hadir atau tidak menangani apa pun: {list}", "en": "Absent or handled nothing: {list}"},
    "aar.absent.none": {"id": "Semua peserta yang diharapkan ikut menangani insiden.", "en": "Every expected trainee acted on an incident."},
    "aar.roster.roster": {"id": "Peserta yang diharapkan: daftar peserta ({count}).", "en": "Expected trainees: the roster ({count})."},
    "aar.roster.tokens": {
        "id": "Peserta yang diharapkan: setiap token petugas latihan ({count}); --roster FILE pada serve memberi daftar sendiri.",
        "en": "Expected trainees: every officer token of the exercise ({count}); --roster FILE on serve gives a list of its own.",
    },
    "aar.timelines": {"id": "Linimasa insiden", "en": "Incident timelines"},
    "aar.system_escalations": {
        "id": "dieskalasi oleh sistem x{count} ({first} s.d. {last}, sampai level {level})",
        "en": "escalated by the system x{count} ({first} to {last}, up to level {level})",
    },
    "aar.sessions.header": {"id": "Sesi latihan di {db}:", "en": "Exercise sessions in {db}:"},
    "aar.sessions.line": {"id": "  {number}. {epoch}, dimulai {started}, {events}: {where}", "en": "  {number}. {epoch}, started {started}, {events}: {where}"},
    "aar.sessions.current": {"id": "sesi berjalan (basis data ini)", "en": "the current session (this database)"},
    "aar.sessions.kept": {"id": "salinan {path}", "en": "copy {path}"},
    "aar.sessions.lost": {"id": "tidak ada salinan tersimpan", "en": "no copy kept"},
    "aar.refused.reason.already": {"id": "sudah ditangani orang lain", "en": "already taken"},
    "aar.refused.reason.not_found": {"id": "insiden tidak ada", "en": "no such incident"},
    "aar.refused.reason.scope": {"id": "di luar wilayah tokennya", "en": "outside the token's regencies"},
    "aar.refused.reason.read_only": {"id": "token hanya boleh membaca", "en": "a read-only token"},
    "aar.refused.reason.note_required": {"id": "tanpa catatan wajib", "en": "without the required note"},
    "aar.refused.reason.blank": {"id": "isian kosong", "en": "a blank field"},
    "aar.refused.reason.not_resolved": {"id": "belum diselesaikan", "en": "not resolved"},
    "aar.refused.reason.not_acknowledged": {"id": "belum di-ack", "en": "not acknowledged"},
    "aar.refused.reason.not_snoozed": {"id": "tidak sedang ditunda", "en": "not snoozed"},
    "aar.refused.reason.unchanged": {"id": "tidak ada yang berubah", "en": "nothing to change"},
    "aar.refused.reason.into_resolved": {"id": "insiden tujuan sudah selesai", "en": "the target is resolved"},
    "aar.refused.reason.same_incident": {"id": "digabung ke dirinya sendiri", "en": "merged into itself"},
    "aar.refused.reason.notes_full": {"id": "catatan sudah penuh", "en": "notes full"},
    "aar.refused.reason.rate_limited": {"id": "terlalu cepat", "en": "too fast"},
    "aar.refused.reason.control_character": {"id": "berisi karakter kendali", "en": "control characters"},
    "aar.refused.reason.bad_field": {"id": "isian tidak sah", "en": "a field not valid"},
    "aar.refused.reason.unknown_severity": {"id": "tingkat tidak dikenal", "en": "unknown severity"},
    "aar.refused.reason.done_exceeds_total": {"id": "melebihi total", "en": "more than the total"},
    "aar.refused.code.conflict": {"id": "bentrok", "en": "conflict"},
    "aar.refused.code.invalid": {"id": "tidak sah", "en": "invalid"},
    "aar.refused.code.forbidden": {"id": "tidak berwenang", "en": "forbidden"},
    "aar.refused.code.not_found": {"id": "tidak ada", "en": "not found"},
    "aar.refused.code.rate_limited": {"id": "terlalu cepat", "en": "rate limited"},
    "aar.verb.incident.reported": {"id": "dilaporkan", "en": "reported"},
    "aar.verb.incident.duplicate": {"id": "dilaporkan lagi", "en": "reported again"},
    "aar.verb.incident.acknowledged": {"id": "di-ack", "en": "acknowledged"},
    "aar.verb.incident.escalated": {"id": "dieskalasi", "en": "escalated"},
    "aar.verb.incident.noted": {"id": "catatan", "en": "note"},
    "aar.verb.incident.resolved": {"id": "diselesaikan", "en": "resolved"},
    "aar.verb.incident.reopened": {"id": "dibuka lagi", "en": "reopened"},
    "aar.verb.incident.snoozed": {"id": "ditunda", "en": "snoozed"},
    "aar.verb.incident.unsnoozed": {"id": "penundaan berakhir", "en": "woke"},
    "aar.verb.incident.assigned": {"id": "ditugaskan", "en": "assigned"},
    "aar.verb.incident.severity_changed": {"id": "tingkat diubah", "en": "severity changed"},
    "aar.verb.incident.unacknowledged": {"id": "ack dibatalkan", "en": "un-acknowledged"},
    "aar.verb.incident.merged": {"id": "digabung", "en": "merged"},
    "sitrep.resolved": {"id": "Diselesaikan: {count}", "en": "Resolved: {count}"},
    "sitrep.title_preview": {"id": "PRATINJAU LAPORAN SITUASI (belum bernomor)", "en": "SITUATION REPORT PREVIEW (not numbered)"},
    "sitrep.period_span": {"id": "Periode: {since} s.d. {until}", "en": "Period: {since} to {until}"},
    "sitrep.period_upto": {"id": "Periode: sejak awal s.d. {until}", "en": "Period: from the start to {until}"},
    "sitrep.province_of": {"id": "Provinsi {name}", "en": "{name} Province"},
    "sitrep.closing": {"id": "Demikian laporan ini dibuat untuk dipergunakan seperlunya.", "en": "This report is made to be used as needed."},
    "sitrep.signed": {"id": "{place}, {date}", "en": "{place}, {date}"},
    "sitrep.page": {"id": "Halaman {page} dari {pages}", "en": "Page {page} of {pages}"},
    "sitrep.escalated": {"id": "Insiden tereskalasi: {count}", "en": "Escalated incidents: {count}"},
    "sitrep.escalated_line": {"id": "#{id} {regency} · level {level} · {state}", "en": "#{id} {regency} · level {level} · {state}"},
    "sitrep.unacked_since": {"id": "belum di-ack sejak {time}", "en": "unacknowledged since {time}"},
    "sitrep.acked_at": {"id": "di-ack {time}", "en": "acknowledged {time}"},
    "sitrep.escalated_times": {
        "id": "Dieskalasi {count} kali dalam periode ini, terakhir {time} oleh {who}",
        "en": "Escalated {count} times in this period, last at {time} by {who}",
    },
    # Who was on duty as the report's period ended (the rosters' shifts then).
    "sitrep.duty": {"id": "Piket jaga pukul {time}", "en": "On duty at {time}"},
    "sitrep.duty_line": {"id": "{desk}: {people} ({start}-{end})", "en": "{desk}: {people} ({start}-{end})"},
    "sitrep.duty_supervisor": {"id": ", pengawas {name}", "en": ", supervisor {name}"},
    "sitrep.more": {"id": "... dan {count} lainnya (daftar lengkap di laporan md/pdf)", "en": "... and {count} more (the full list is in the md/pdf report)"},
    "sitrep.chart_span": {"id": "Periode {since} s.d. {until}", "en": "Period {since} to {until}"},
    "sitrep.summary": {"id": "Ringkasan", "en": "Summary"},
    "sitrep.waiting": {"id": "{count} belum di-ack", "en": "{count} unacknowledged"},
    "sitrep.see_attachment": {"id": "Rincian per wilayah dan daftar insiden terlampir.", "en": "Details per regency and the incident lists are attached."},
    "sitrep.attachment": {"id": "LAMPIRAN {title}", "en": "ATTACHMENT TO {title}"},
    "sitrep.chart_hour": {"id": "per jam", "en": "per hour"},
    "sitrep.chart_hours": {"id": "per {hours} jam", "en": "per {hours} hours"},
    "sitrep.chart_day": {"id": "per hari", "en": "per day"},
    "sitrep.chart_title": {"id": "Insiden {unit} menurut tingkat", "en": "Incidents {unit} by severity"},
    "sitrep.saved": {"id": "Lapsit No. {number} disimpan: {path}", "en": "Sitrep No. {number} saved: {path}"},
    "sitrep.moved": {
        "id": "Lapsit lain baru saja disimpan; tekan w lagi untuk menyimpan yang terbaru",
        "en": "Another sitrep was saved meanwhile; press w again to save the latest",
    },
    "sitrep.resolved_line": {"id": "#{id} {regency} · {who} {time}", "en": "#{id} {regency} · {who} {time}"},
    "sitrep.none": {"id": "-", "en": "-"},
    "month.1": {"id": "Januari", "en": "January"},
    "month.2": {"id": "Februari", "en": "February"},
    "month.3": {"id": "Maret", "en": "March"},
    "month.4": {"id": "April", "en": "April"},
    "month.5": {"id": "Mei", "en": "May"},
    "month.6": {"id": "Juni", "en": "June"},
    "month.7": {"id": "Juli", "en": "July"},
    "month.8": {"id": "Agustus", "en": "August"},
    "month.9": {"id": "September", "en": "September"},
    "month.10": {"id": "Oktober", "en": "October"},
    "month.11": {"id": "November", "en": "November"},
    "month.12": {"id": "Desember", "en": "December"},
    "sitrep.col.regency": {"id": "Wilayah", "en": "Regency"},
    "sitrep.col.stage": {"id": "Tahap", "en": "Stage"},
    "sitrep.col.done": {"id": "Selesai", "en": "Done"},
    "sitrep.col.note": {"id": "Keterangan", "en": "Note"},
    "sitrep.chart": {"id": "Insiden per jam menurut tingkat", "en": "Incidents per hour by severity"},
    "sitrep.map": {"id": "Peta kondisi wilayah", "en": "Regencies by condition"},
    "key.sitrep": {"id": "Lapsit", "en": "Sitrep"},
    "sitrep.preview": {"id": "Laporan situasi (pratinjau): w simpan, esc kembali", "en": "Situation report (preview): w write, esc back"},
    "sitrep.written": {"id": "Lapsit No. {number} disimpan: {path}", "en": "Sitrep No. {number} written: {path}"},
    "sitrep.write_failed": {"id": "Lapsit tidak tersimpan: {reason}", "en": "Sitrep not written: {reason}"},
    "sitrep.preview_partial": {
        "id": "Pratinjau dari data layar ini saja (24 jam terakhir): log server tidak terbaca ({reason})",
        "en": "Preview from this screen's data only (the last 24 hours): the server's log could not be read ({reason})",
    },
    "key.write": {"id": "Simpan", "en": "Write"},
    # --- charts and the regency's detail ----------------------------------------------
    "charts.title": {"id": "Malam ini per jam ({hours} jam, {span})", "en": "The night per hour ({hours} h, {span})"},
    "charts.peak": {"id": "maks {n}/j", "en": "max {n}/h"},
    "charts.tps": {"id": "TPS dihitung {done}/{total}", "en": "TPS counted {done}/{total}"},
    "key.regency_detail": {"id": "Detail wilayah", "en": "Regency detail"},
    "regency.title": {"id": "{name} ({code})", "en": "{name} ({code})"},
    "regency.stages": {"id": "Tahapan", "en": "Stages"},
    "regency.open": {"id": "Insiden terbuka", "en": "Open incidents"},
    "regency.none_open": {"id": "tidak ada insiden terbuka", "en": "no open incidents"},
    "regency.pick": {"id": "Pilih wilayah dulu (1..0, tab) atau insidennya.", "en": "Pick a regency first (1..0, tab) or one of its incidents."},
    "stage.status.pending": {"id": "belum", "en": "pending"},
    "stage.status.in_progress": {"id": "berjalan", "en": "in progress"},
    "stage.status.done": {"id": "selesai", "en": "done"},
    "stage.status.blocked": {"id": "TERHAMBAT", "en": "BLOCKED"},
    # --- the officer's own ground, going to a number, the queue's order (issue 21, 5-9) ---
    "col.due": {"id": "Tenggat", "en": "Due"},
    "due.over": {"id": "LEWAT {time}", "en": "LATE {time}"},
    "due.under_minute": {"id": "<1m", "en": "<1m"},
    "key.sort": {"id": "Urutan", "en": "Sort"},
    "palette.sort": {"id": "Urutan antrian (mendesak, terbaru, tingkat, tenggat)", "en": "Queue order (urgent, newest, severity, due)"},
    "sort.urgency": {"id": "urut: mendesak", "en": "by urgency"},
    "sort.newest": {"id": "urut: terbaru", "en": "newest first"},
    "sort.severity": {"id": "urut: keparahan", "en": "by severity"},
    "sort.deadline": {"id": "urut: sisa tenggat", "en": "by time left"},
    "key.goto": {"id": "Ke nomor", "en": "Go to #"},
    "palette.goto_hint": {"id": "Ketik #nomor atau :nomor untuk ke insiden itu", "en": "Type #number or :number to go to that incident"},
    "palette.goto": {"id": "Ke insiden #{id}", "en": "Go to incident #{id}"},
    "palette.goto_help": {
        "id": "Pilih #{id} di antrian (atau buka detailnya bila tersaring)",
        "en": "Select #{id} in the queue (or open it when a filter hides it)",
    },
    "goto.placeholder": {"id": "Ke insiden: #nomor (enter: pergi, esc: batal)", "en": "Go to incident: #number (enter: go, esc: cancel)"},
    "goto.bad": {"id": "Bukan nomor insiden: {text} (contoh: #8)", "en": "Not an incident number: {text} (e.g. #8)"},
    "goto.unknown": {"id": "Insiden #{id} tidak ada (atau sudah selesai lebih dari 24 jam)", "en": "No incident #{id} (or resolved more than 24 hours ago)"},
    "goto.opened": {"id": "#{id} tersaring dari antrian: detailnya dibuka", "en": "#{id} is filtered out of the queue: its detail is open"},
    "focus.title": {"id": "fokus: {what}", "en": "focus: {what}"},
    "focus.desk": {"id": "meja {desk}", "en": "{desk} desk"},
    "palette.focus_mine": {"id": "Wilayah saya: {name}", "en": "My regency: {name}"},
    "palette.focus_scope": {"id": "Fokus ke wilayah token ini: {names}", "en": "Focus on this token's regencies: {names}"},
    "palette.focus_province": {"id": "Fokus: seluruh provinsi", "en": "Focus: the whole province"},
    "palette.focus_desk": {"id": "Fokus meja: {desk}", "en": "Focus desk: {desk}"},
    "palette.focus_all_desks": {"id": "Fokus meja: semua", "en": "Focus desk: all"},
    "palette.focus_help": {
        "id": "Antrian, pemberitahuan dan bel hanya untuk fokus ini (diingat di komputer ini)",
        "en": "Queue, notices and bell for this focus only (remembered on this machine)",
    },
    "focus.set": {"id": "Fokus: {what}", "en": "Focus: {what}"},
    "focus.province": {"id": "seluruh provinsi", "en": "the whole province"},
    "focus.unknown_regency": {"id": "Wilayah tidak dikenal: {value} (dikenal: {known})", "en": "Unknown regency: {value} (known: {known})"},
    "focus.unknown_desk": {"id": "Meja tidak dikenal: {value} (dikenal: {known})", "en": "Unknown desk: {value} (known: {known})"},
    "modal.merge_same": {"id": "— wilayah lain —", "en": "— other regencies —"},
    "modal.assign_none": {
        "id": "Server ini tidak menyebut petugasnya: perbarui server untuk menyerahkan insiden.",
        "en": "This server names no people: update it to hand incidents over.",
    },
    # --- age units ----------------------------------------------------------------
    "age.now": {"id": "<1m", "en": "<1m"},
    "age.minutes": {"id": "{m}m", "en": "{m}m"},
    "age.hours": {"id": "{h}j{m:02d}", "en": "{h}h{m:02d}"},
    "age.days": {"id": "{d}h{h:02d}j", "en": "{d}d{h:02d}h"},
}

WITA = timezone(timedelta(hours=8), "WITA")


class Translator:
    """`tr("key", name=value)`: the label in one language, formatted."""

    def __init__(self, lang: str = "id") -> None:
        self.lang = lang if lang in LANGUAGES else "id"

    def __call__(self, key: str, **values: object) -> str:
        entry = CATALOG.get(key)
        if entry is None:
            return for_terminal(key)  # a missing label shows its key (maybe from the wire) rather than crashing a night shift
        text = entry[self.lang]
        return text.format(**values) if values else text

    def age(self, delta: timedelta) -> str:
        minutes = max(0, int(delta.total_seconds() // 60))
        if minutes < 1:
            return self("age.now")
        return self.duration(minutes)

    def duration(self, minutes: int) -> str:
        """Whole minutes as the screens write them: "4m", "1j05", "2h03j"."""
        if minutes < 60:
            return self("age.minutes", m=minutes)
        hours, minutes = divmod(minutes, 60)
        if hours < 24:
            return self("age.hours", h=hours, m=minutes)
        days, hours = divmod(hours, 24)
        return self("age.days", d=days, h=hours)


def who(actor: Actor | None) -> str:
    """Agency/name as the post says it: "Bawaslu/Rahmat". Names come from the
    wire (tokens, stored events): drawn through `for_terminal`, here, once."""
    if actor is None:
        return "?"
    return for_terminal(f"{actor.agency}/{actor.name}" if actor.agency else actor.name)


def local_time(moment: datetime | str, tz: tzinfo, *, seconds: bool = False) -> str:
    """ "21:03 WITA": a UTC moment in the province's zone, with the zone's name."""
    when = parse_ts(moment) if isinstance(moment, str) else moment
    local = when.astimezone(tz)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    name = local.tzname() or ""
    return f"{clock} {name}".strip()


def local_datetime(moment: datetime | str, tz: tzinfo) -> str:
    when = parse_ts(moment) if isinstance(moment, str) else moment
    local = when.astimezone(tz)
    return f"{local:%d/%m %H:%M} {local.tzname() or ''}".strip()


def local_when(moment: datetime | str, tz: tzinfo, day: datetime, *, zone: bool = True) -> str:
    """ "21:03 WITA" on `day`'s date in the province, "15/02 21:03 WITA" on any other:
    a recapitulation runs for weeks, and a bare clock time from another day reads as today's."""
    when = parse_ts(moment) if isinstance(moment, str) else moment
    local = when.astimezone(tz)
    clock = f"{local:%H:%M}" if local.date() == day.astimezone(tz).date() else f"{local:%d/%m %H:%M}"
    return f"{clock} {local.tzname() or ''}".strip() if zone else clock


def _label(tr: Translator, prefix: str, value: object) -> str:
    """A known value's label (`reason.status.acknowledged`), else the value itself."""
    key = f"{prefix}.{value}"
    return tr(key) if key in CATALOG else str(value)


def translate_refusal(result: Result, lang: str, tz: tzinfo = WITA, regency_names: Mapping[str, str] | None = None) -> str:
    """A refused command's reason in the user's language, from its `reason` and
    `params`; the server's English `message` for a reason this client does not
    know (or params it cannot read). Safe to draw: no control characters.
    `regency_names` (code -> name): regencies said by name ("Tanah Bumbu", not 6310)."""
    names = regency_names or {}
    tr = Translator(lang)
    fallback = for_terminal(result.message or result.code or "?")
    key = f"reason.{result.reason}"
    if result.reason is None or key not in CATALOG:
        return fallback
    params: dict[str, Any] = dict(result.params or {})
    try:
        if "field" in params:
            params["field"] = _label(tr, "reason.field", params["field"])
        if "status" in params:
            params["status"] = _label(tr, "reason.status", params["status"])
        if "command" in params:
            params["command"] = _label(tr, "reason.command", params["command"])
        if "regencies" in params:
            params["regencies"] = ", ".join(names.get(str(code), str(code)) for code in params["regencies"]) or "-"
        if "regency" in params:
            params["regency"] = names.get(str(params["regency"]), str(params["regency"]))
        if "characters" in params:
            params["characters"] = ", ".join(str(char) for char in params["characters"])
        if "by" in params:
            params["by"] = who(convert(params["by"], Actor)) if params["by"] is not None else "?"
        if "at" in params:
            params["at"] = local_time(params["at"], tz) if params["at"] else ""
        if "rate" in params:
            params["rate"] = f"{float(params['rate']):g}"
        for word in ("action", "state"):  # an exercise's: pause/resume/end, running/paused/ended
            if word in params:
                params[word] = _label(tr, "reason.exercise", params[word])
        text = CATALOG[key][tr.lang].format(**params)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return fallback  # a server newer than this client, or params it did not expect
    return for_terminal(text).strip()


def translate_failure(reason: str | None, params: dict[str, Any] | None, fallback: str, lang: str) -> str:
    """Why a connection failed, in the officer's language: from the client's reason
    code and params (`connect.<reason>`); an unknown one as the client said it."""
    if reason is None or f"connect.{reason}" not in CATALOG:
        return for_terminal(fallback)
    os_error = f"os.{(params or {}).get('errno')}"
    if os_error in CATALOG:  # the OS's own English words ("Connection reset by peer"), said in the screen's language
        params = {**(params or {}), "detail": CATALOG[os_error][Translator(lang).lang]}
    try:
        text = Translator(lang)(f"connect.{reason}", **(params or {}))
    except (KeyError, IndexError, ValueError):  # params not the ones the label names
        return for_terminal(fallback)
    return for_terminal(text)

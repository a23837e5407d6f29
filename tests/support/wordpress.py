"""A real WordPress for the tests and the bench: Debian's ``wordpress`` with
``php-cli`` and ``php-mysql``, a database of its own on the MariaDB server at
127.0.0.1:3306 (root, empty password), installed by WordPress's own
``wp_install()`` and served by ``php -S 127.0.0.1:PORT -t /usr/share/wordpress``
on a free port.

Debian's WordPress reads its settings from ``/etc/wordpress/config-<host>.php``,
a file the whole machine shares. The one written here names no database:
it reads it from the environment of the PHP process (``FEEDPUB_WP_DB``), so
concurrent sessions (pytest-xdist workers, the bench) share one identical
file and each talks to its own database. The file is counted out like a
lock: a session registers its pid, and the last live one to leave removes
it, or puts back what was there before.

Posts, terms, authors and featured images are made through WordPress itself
(``wp_insert_post``, ``wp_insert_user``, ``wp_insert_attachment``...), by PHP
scripts run with ``WordPress.php``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

WP_ROOT = Path("/usr/share/wordpress")
CONFIG_DIR = Path("/etc/wordpress")
HOST = "127.0.0.1"
HOST_CONFIG = CONFIG_DIR / f"config-{HOST}.php"
MARIADB = (HOST, 3306)
# Where the sessions using HOST_CONFIG register (one file per pid) and the
# lock that orders them; what was in HOST_CONFIG before, kept to put back.
_USERS_DIR = Path(tempfile.gettempdir()) / "feedpub-wordpress-config.users"
_LOCK = Path(tempfile.gettempdir()) / "feedpub-wordpress-config.lock"
_SAVED = CONFIG_DIR / f"config-{HOST}.php.feedpub-saved"

# OPcache, kept in files too: WordPress's 370 files are compiled once for
# every script and server of every session, not at every start (2.5 s each).
OPCACHE_DIR = Path(tempfile.gettempdir()) / "feedpub-wordpress-opcache"
PHP_OPTIONS = ("-d", "opcache.enable_cli=1", "-d", f"opcache.file_cache={OPCACHE_DIR}")

CONFIG_TEXT = """<?php
// Written by feedpub's tests (tests/support/wordpress.py) and removed when
// they end. Each test session's WordPress names its database in the
// environment of its PHP process.
define('DB_NAME', getenv('FEEDPUB_WP_DB') ?: 'feedpub_wp_unset');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', '127.0.0.1:3306');
define('WP_CONTENT_DIR', '/usr/share/wordpress/wp-content');
define('WP_ENVIRONMENT_TYPE', 'local');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
$table_prefix = 'wp_';
// With the option feedpub_rest_login_required set, the REST API answers only
// logged-in users (as hardening plugins make it): a filter registered before
// WordPress loads its hooks (WP_Hook::build_preinitialized_hooks).
$GLOBALS['wp_filter']['rest_authentication_errors'][20][] = [
    'accepted_args' => 1,
    'function' => function ($result) {
        if ($result === null && get_option('feedpub_rest_login_required') && !is_user_logged_in()) {
            return new WP_Error('rest_not_logged_in', 'Only logged-in users may read this API.',
                ['status' => 401]);
        }
        return $result;
    },
];
"""

# Loads WordPress for a CLI script as a request to the test's host would.
_BOOT = """<?php
$_SERVER['HTTP_HOST'] = getenv('FEEDPUB_WP_HOST');
$_SERVER['SERVER_NAME'] = '127.0.0.1';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
if (getenv('FEEDPUB_WP_INSTALLING')) { define('WP_INSTALLING', true); }
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/image.php';
require_once ABSPATH . 'wp-admin/includes/post.php';
require_once ABSPATH . 'wp-admin/includes/taxonomy.php';
$in = json_decode(file_get_contents('php://stdin'), true);
// One transaction per script (MariaDB would flush its log at every one of
// the dozens of queries a post makes); term counts once, at the end.
if (!getenv('FEEDPUB_WP_INSTALLING')) {
    $GLOBALS['wpdb']->query('START TRANSACTION');
    wp_defer_term_counting(true);
}
$out = (function ($in) { return require getenv('FEEDPUB_WP_SCRIPT'); })($in);
if (!getenv('FEEDPUB_WP_INSTALLING')) {
    wp_defer_term_counting(false);
    $GLOBALS['wpdb']->query('COMMIT');
}
echo "\\n@@FEEDPUB@@" . json_encode($out);
"""

_DATABASE = """<?php
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
$db = new mysqli('127.0.0.1', 'root', '', '', 3306);
$name = $argv[2];
if ($argv[1] === 'create') {
    $db->query("CREATE DATABASE `$name` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
} else {
    $db->query("DROP DATABASE IF EXISTS `$name`");
}
"""

INSTALL = """<?php
wp_install('أخبار الاختبار', 'admin', 'admin@example.org', true, '', 'admin-password', 'ar');
$url = $in['url'];
update_option('siteurl', $url);
update_option('home', $url);
update_option('timezone_string', $in['timezone']);
update_option('permalink_structure', $in['permalinks']);
update_option('upload_path', $in['uploads']);
update_option('upload_url_path', $url . '/wp-content/uploads');
update_option('posts_per_page', 10);
foreach (get_posts(['post_type' => 'any', 'post_status' => 'any', 'numberposts' => -1]) as $p) {
    wp_delete_post($p->ID, true);
}
flush_rewrite_rules();
return ['version' => get_bloginfo('version')];
"""


def problem() -> str | None:
    """Why a real WordPress cannot run here (None: it can)."""
    if not (WP_ROOT / "wp-load.php").exists():
        return f"Debian's wordpress is not installed ({WP_ROOT}); .ci/run installs it"
    php = shutil.which("php")
    if php is None:
        return "php-cli is not installed; .ci/run installs it"
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, check=False).stdout
    if "mysqli" not in modules.split():
        return "php-mysql is not installed (no mysqli); .ci/run installs it"
    try:
        with socket.create_connection(MARIADB, timeout=3):
            pass
    except OSError as exc:
        return f"MariaDB at {MARIADB[0]}:{MARIADB[1]} unreachable: {exc}"
    if not os.access(CONFIG_DIR, os.W_OK):
        return f"{CONFIG_DIR} is not writable: the host config of WordPress cannot be written"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _config_lock() -> Iterator[None]:
    with _LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _users() -> list[int]:
    """The pids registered as using the host config, dead ones forgotten."""
    _USERS_DIR.mkdir(exist_ok=True)
    alive = []
    for entry in _USERS_DIR.iterdir():
        if entry.name.isdigit() and _alive(int(entry.name)):
            alive.append(int(entry.name))
        else:
            entry.unlink(missing_ok=True)
    return alive


def acquire_host_config() -> None:
    """Our host config in place, and this process counted as using it."""
    with _config_lock():
        users = _users()
        current = HOST_CONFIG.read_text() if HOST_CONFIG.exists() else None
        if current != CONFIG_TEXT:
            if current is not None and not users and not _SAVED.exists():
                _SAVED.write_text(current)  # someone else's: put back when we leave
            tmp = HOST_CONFIG.with_suffix(".php.feedpub-tmp")
            tmp.write_text(CONFIG_TEXT)
            tmp.chmod(0o644)
            tmp.replace(HOST_CONFIG)
        (_USERS_DIR / str(os.getpid())).touch()


def release_host_config() -> None:
    """This process no longer uses the host config; the last user removes
    it (or puts back what was there before the first)."""
    with _config_lock():
        (_USERS_DIR / str(os.getpid())).unlink(missing_ok=True)
        if _users():
            return
        if _SAVED.exists():
            _SAVED.replace(HOST_CONFIG)
        elif HOST_CONFIG.exists() and HOST_CONFIG.read_text() == CONFIG_TEXT:
            HOST_CONFIG.unlink()


class PhpError(RuntimeError):
    pass


class WordPress:
    """One WordPress site: its database, its uploads folder, its server."""

    def __init__(
        self, folder: Path, *, timezone: str = "Africa/Cairo", pretty_permalinks: bool = False
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.db = f"feedpub_wp_{uuid.uuid4().hex[:12]}"
        self.uploads = folder / "uploads"
        self.timezone = timezone
        self.pretty_permalinks = pretty_permalinks
        self.server: subprocess.Popen[bytes] | None = None
        self.version = ""
        self.images: list[int] = []  # the attachments make_images made
        self._scripts = 0

    # --- lifecycle -------------------------------------------------------------

    def install(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        OPCACHE_DIR.mkdir(exist_ok=True)
        self.uploads.mkdir(exist_ok=True)
        (self.folder / "boot.php").write_text(_BOOT)
        self._database("create")
        acquire_host_config()
        result = self.php(
            INSTALL,
            {
                "url": self.url,
                "timezone": self.timezone,
                "permalinks": "/%year%/%postname%/" if self.pretty_permalinks else "",
                "uploads": str(self.uploads),
            },
            installing=True,
        )
        self.version = str(result["version"])

    def start(self, workers: int = 1) -> None:
        """Serve the site (again, on the same port)."""
        if self.server is not None:
            return
        log = (self.folder / "php-server.log").open("ab")
        env = {**self._env(), "PHP_CLI_SERVER_WORKERS": str(workers)}
        self.server = subprocess.Popen(
            ["php", *PHP_OPTIONS, "-S", f"{HOST}:{self.port}", "-t", str(WP_ROOT)],
            cwd=self.folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return
            except OSError:
                if self.server.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"php -S on port {self.port} did not start; see {log.name}")

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is None or server.poll() is not None:
            return
        # Its own session: the workers (PHP_CLI_SERVER_WORKERS) go with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    def close(self) -> None:
        self.stop()
        try:
            self._database("drop")
        finally:
            release_host_config()

    # --- PHP -------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FEEDPUB_WP_DB": self.db,
            "FEEDPUB_WP_HOST": f"{HOST}:{self.port}",
            "TZ": "UTC",
        }

    def _database(self, action: str) -> None:
        script = self.folder / "database.php"
        script.write_text(_DATABASE)
        subprocess.run(
            ["php", str(script), action, self.db], check=True, capture_output=True, timeout=60
        )

    def php(self, code: str, data: Any = None, *, installing: bool = False) -> Any:
        """Run ``code`` (a PHP file's text, ``return``ing a value) inside
        WordPress, with ``data`` as ``$in``; its value back, from JSON."""
        self._scripts += 1
        script = self.folder / f"script-{self._scripts}.php"
        script.write_text(code)
        env = {**self._env(), "FEEDPUB_WP_SCRIPT": str(script)}
        if installing:
            env["FEEDPUB_WP_INSTALLING"] = "1"
        done = subprocess.run(
            ["php", *PHP_OPTIONS, "-d", "memory_limit=512M", str(self.folder / "boot.php")],
            input=json.dumps(data, ensure_ascii=False).encode(),
            capture_output=True,
            env=env,
            cwd=self.folder,
            timeout=300,
            check=False,
        )
        out = done.stdout.decode("utf-8", "replace")
        marker = out.rfind("@@FEEDPUB@@")
        if done.returncode != 0 or marker < 0:
            raise PhpError(
                f"PHP script {script.name} failed ({done.returncode}): "
                f"{out[-2000:]} {done.stderr.decode('utf-8', 'replace')[-2000:]}"
            )
        return json.loads(out[marker + len("@@FEEDPUB@@") :])

    # --- content, made through WordPress ----------------------------------------

    def make_authors(self, names: Mapping[str, str]) -> dict[str, int]:
        """Users with the author role: login -> display name; their ids."""
        result = self.php(
            """<?php
            $ids = [];
            foreach ($in as $login => $name) {
                $ids[$login] = wp_insert_user([
                    'user_login' => $login, 'user_pass' => wp_generate_password(),
                    'display_name' => $name, 'nickname' => $name, 'role' => 'author',
                    'user_email' => $login . '@example.org',
                ]);
            }
            return $ids;
            """,
            dict(names),
        )
        return {str(k): int(v) for k, v in result.items()}

    def make_images(self, images: Sequence[Mapping[str, Any]]) -> list[int]:
        """JPEG attachments drawn by GD ({name, width, height, alt, color}),
        with WordPress's own metadata and sizes; their ids."""
        result = self.php(
            """<?php
            $ids = [];
            $dir = wp_upload_dir();
            wp_mkdir_p($dir['path']);
            foreach ($in as $image) {
                $im = imagecreatetruecolor($image['width'], $image['height']);
                [$r, $g, $b] = $image['color'];
                imagefill($im, 0, 0, imagecolorallocate($im, $r, $g, $b));
                $file = $dir['path'] . '/' . $image['name'] . '.jpg';
                imagejpeg($im, $file, 80);
                imagedestroy($im);
                $id = wp_insert_attachment([
                    'post_mime_type' => 'image/jpeg', 'post_title' => $image['name'],
                    'post_status' => 'inherit', 'post_content' => '',
                ], $file);
                wp_update_attachment_metadata($id, wp_generate_attachment_metadata($id, $file));
                update_post_meta($id, '_wp_attachment_image_alt', $image['alt']);
                $ids[] = $id;
            }
            return $ids;
            """,
            list(images),
        )
        self.images += [int(i) for i in result]
        return [int(i) for i in result]

    def insert_posts(self, posts: Sequence[Mapping[str, Any]]) -> list[int]:
        """Posts by ``wp_insert_post``: {title, content, excerpt?, categories
        (names), tags (names), author (login), image (attachment id)?,
        date_gmt? ("Y-m-d H:i:s", UTC), status? (publish)}; their ids."""
        result = self.php(
            """<?php
            $ids = [];
            $cats = [];
            // Pings and enclosures are scheduled on publishing: nothing the
            // REST API shows, and half the time of an insert.
            remove_action('publish_post', '_publish_post_hook', 5);
            foreach ($in as $post) {
                $catIds = [];
                foreach ($post['categories'] ?? [] as $name) {
                    if (!isset($cats[$name])) { $cats[$name] = wp_create_category($name); }
                    $catIds[] = $cats[$name];
                }
                $args = [
                    'post_title' => wp_slash($post['title']),
                    'post_content' => wp_slash($post['content']),
                    'post_excerpt' => wp_slash($post['excerpt'] ?? ''),
                    'post_status' => $post['status'] ?? 'publish',
                    'post_author' => get_user_by('login', $post['author'] ?? 'admin')->ID,
                    'post_category' => $catIds,
                    'tags_input' => $post['tags'] ?? [],
                ];
                if (isset($post['date_gmt'])) {
                    $args['post_date_gmt'] = $post['date_gmt'];
                    $args['post_date'] = get_date_from_gmt($post['date_gmt']);
                }
                $id = wp_insert_post($args, true);
                if (is_wp_error($id)) { throw new Exception($id->get_error_message()); }
                if (!empty($post['image'])) { set_post_thumbnail($id, $post['image']); }
                $ids[] = $id;
            }
            return $ids;
            """,
            list(posts),
        )
        return [int(i) for i in result]

    def update_posts(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """``wp_update_post`` each {ID, post_title?, post_content?,
        post_status?, ...}; ``modified_gmt`` ("Y-m-d H:i:s") pins the
        modification time afterwards (as a slow save or an import would)."""
        self.php(
            """<?php
            global $wpdb;
            foreach ($in as $change) {
                $modified = $change['modified_gmt'] ?? null;
                unset($change['modified_gmt']);
                $done = wp_update_post(wp_slash($change), true);
                if (is_wp_error($done)) { throw new Exception($done->get_error_message()); }
                if ($modified) {
                    $wpdb->update($wpdb->posts, [
                        'post_modified_gmt' => $modified,
                        'post_modified' => get_date_from_gmt($modified),
                    ], ['ID' => $change['ID']]);
                    clean_post_cache($change['ID']);
                }
            }
            return true;
            """,
            list(changes),
        )

    def trash_posts(self, ids: Sequence[int]) -> None:
        self.php(
            "<?php foreach ($in as $id) { wp_trash_post($id); } return true;",
            list(ids),
        )

    def delete_all_posts(self) -> None:
        """Every post gone at once, by SQL (a test's clean slate; attachments,
        users and terms stay)."""
        self.php(
            """<?php
            global $wpdb;
            $wpdb->query("DELETE FROM $wpdb->postmeta WHERE post_id IN
                (SELECT ID FROM $wpdb->posts WHERE post_type IN ('post', 'revision'))");
            $wpdb->query("DELETE FROM $wpdb->posts WHERE post_type IN ('post', 'revision')");
            $wpdb->query("DELETE FROM $wpdb->term_relationships
                WHERE object_id NOT IN (SELECT ID FROM $wpdb->posts)");
            wp_cache_flush();
            return true;
            """
        )

    def published(self) -> dict[int, dict[str, str]]:
        """What WordPress itself says is published: id -> title and link."""
        found = self.php(
            """<?php
            $out = [];
            foreach (get_posts(['post_status' => 'publish', 'numberposts' => -1]) as $p) {
                $out[$p->ID] = ['title' => get_the_title($p), 'link' => get_permalink($p)];
            }
            return (object) $out;
            """
        )
        return {int(k): v for k, v in found.items()}

    def require_login(self, required: bool) -> None:
        """Whether the REST API answers only logged-in users."""
        self.php(
            "<?php update_option('feedpub_rest_login_required', $in ? 1 : 0); return 1;",
            required,
        )

    def set_permalinks(self, structure: str) -> None:
        """ "" for plain links (?p=1, ?rest_route=/), else e.g. /%year%/%postname%/."""
        self.php(
            "<?php update_option('permalink_structure', $in); flush_rewrite_rules(); return 1;",
            structure,
        )

    def application_password(self, login: str) -> str:
        """A new application password of ``login`` (WordPress's own API)."""
        return str(
            self.php(
                """<?php
                $user = get_user_by('login', $in);
                [$password] = WP_Application_Passwords::create_new_application_password(
                    $user->ID, ['name' => 'feedpub tests']);
                return $password;
                """,
                login,
            )
        )

    def modified_gmt(self, post_id: int) -> str:
        return str(
            self.php("<?php return get_post($in)->post_modified_gmt;", post_id),
        )


@contextlib.contextmanager
def running_wordpress(folder: Path, **kwargs: Any) -> Iterator[WordPress]:
    """A WordPress installed and served for the ``with`` block, then stopped,
    its database dropped and the host config released."""
    site = WordPress(folder, **kwargs)
    try:
        site.install()
        site.start()
        yield site
    finally:
        site.close()

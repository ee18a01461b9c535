"""The HTTP layer of the Weir client: urllib with HTTP Basic credentials."""
import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional

from .models import Error, Server, ServerState, error_from_dict, server_from_dict


class ApiError(Exception):
    """What the API answered when it refused: its status and {error, description}."""

    def __init__(self, status: int, body: Error):
        super().__init__(f"{status} {body.error}: {body.description}")
        self.status = status
        self.body = body


class Client:
    def __init__(self, base_url: str = "http://127.0.0.1:8989", user: str = "admin", password: str = "mariadb", timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = None
        headers = dict(self.headers)
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as err:
            text = err.read()
            try:
                raise ApiError(err.code, error_from_dict(json.loads(text))) from None
            except (ValueError, AssertionError, KeyError):
                raise ApiError(err.code, Error(description=text.decode(errors="replace"), error=err.reason, errors=None)) from None
        return json.loads(text) if text else None

    def list_servers(self) -> List[Server]:
        """GET /servers."""
        return [server_from_dict(s) for s in self._call("GET", "/servers")]

    def get_server(self, name: str) -> Server:
        """GET /servers/{name}."""
        return server_from_dict(self._call("GET", "/servers/" + urllib.parse.quote(name, safe="")))

    def patch_server(self, name: str, operations: List[Dict[str, Any]]) -> Server:
        """PATCH /servers/{name} with a JSON Patch, sent as application/json."""
        return server_from_dict(self._call("PATCH", "/servers/" + urllib.parse.quote(name, safe=""), operations))

    def merge_patch_server(self, name: str, patch: Dict[str, Any]) -> Server:
        """PATCH /servers/{name} with an RFC 7396 merge patch."""
        return server_from_dict(self._call("PATCH", "/servers/" + urllib.parse.quote(name, safe=""), patch, "application/merge-patch+json"))

    def set_maintenance(self, name: str) -> Server:
        """Adds the maintenance flag to a server's state (nothing when it is set)."""
        server = self.get_server(name)
        if ServerState.MAINTENANCE in server.state:
            return server
        return self.patch_server(name, [{"op": "add", "path": "/state/-", "value": "maintenance"}])

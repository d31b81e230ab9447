"""Fixtures of the API's tests: keys of partner A (read-write and read-only) and partner B, and a client that sends
them."""

import json

import pytest

from api.keys import api_key_create
from api.models import ApiKey
from claims.tests.factories import PDF_BYTES

NORTHWIND = {
    "location": "1000001",
    "domain": "northwindtraders.example",
    "directory_id": "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d",
    "solution_area": "microsoft_365",
    "activities": ["usage"],
    "name": "Northwind Teams",
    "products": ["microsoft-teams"],
    "customer_contact_name": "Dana Whitley",
    "customer_contact_title": "IT manager",
    "customer_contact_email": "it@northwindtraders.example",
    "partner_contact_name": "Alex Kim",
    "partner_contact_email": "alex@partner-a.example",
}


class ApiClient:
    """Django's test client with an API key, JSON in and out."""

    def __init__(self, client, key):
        self.client = client
        self.key = key

    def _headers(self, headers):
        return {"Authorization": f"Bearer {self.key}", **(headers or {})}

    def get(self, path, headers=None, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self._headers(headers))

    def post(self, path, data=None, *, headers=None, files=None):
        if files is not None:
            return self.client.post(f"/api/v1{path}", {**(data or {}), **files}, headers=self._headers(headers))
        return self.client.post(
            f"/api/v1{path}", json.dumps(data or {}), content_type="application/json", headers=self._headers(headers)
        )

    def patch(self, path, data, headers=None):
        return self.client.patch(
            f"/api/v1{path}", json.dumps(data), content_type="application/json", headers=self._headers(headers)
        )

    def delete(self, path, headers=None):
        return self.client.delete(f"/api/v1{path}", headers=self._headers(headers))


def pdf(name="proof.pdf"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, PDF_BYTES, content_type="application/pdf")


@pytest.fixture
def key_a(partner_a):
    return api_key_create(partner=partner_a.partner, user=partner_a.admin, name="CRM", access=ApiKey.Access.READ_WRITE)[
        1
    ]


@pytest.fixture
def read_key_a(partner_a):
    return api_key_create(partner=partner_a.partner, user=partner_a.admin, name="BI", access=ApiKey.Access.READ)[1]


@pytest.fixture
def key_b(partner_b):
    return api_key_create(partner=partner_b.partner, user=partner_b.admin, name="PSA", access=ApiKey.Access.READ_WRITE)[
        1
    ]


@pytest.fixture
def api_a(client, key_a):
    return ApiClient(client, key_a)

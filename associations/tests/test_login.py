"""The real login page in Chromium: what a partner user sees and does."""

import re

from playwright.sync_api import expect

from associations.tests.fixtures import PASSWORD


def test_login_page_renders_labelled_email_and_password_fields(page):
    page.goto("/login/")

    expect(page).to_have_title(re.compile("Sign in"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    email = page.get_by_label("Email")
    password = page.get_by_label("Password")
    expect(email).to_have_attribute("type", "email")
    expect(password).to_have_attribute("type", "password")
    expect(email).to_be_focused()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_login_wrong_password_shows_the_error_message(page, partner_a):
    page.goto("/login/")
    page.get_by_label("Email").fill(partner_a.admin.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_have_text(
        "That email and password do not match an account. Check both and try again."
    )
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_label("Email")).to_have_value(partner_a.admin.email)
    expect(page.get_by_label("Password")).to_have_value("")


def test_login_as_partner_admin_lands_on_customer_associations(page, partner_a):
    page.goto("/login/")
    # Email addresses are matched without regard to case, as people type them.
    page.get_by_label("Email").fill(partner_a.admin.email.upper())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Customer associations")
    expect(page).to_have_url(re.compile(r"/incentives/customer-associations/$"))
    nav = page.get_by_role("navigation", name="Incentives")
    expect(nav.get_by_role("link", name="Customer associations")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text(partner_a.partner.name).first).to_be_visible()


def test_login_then_following_next_returns_to_the_page_asked_for(page, partner_a):
    page.goto("/incentives/customer-associations/")
    expect(page).to_have_url(re.compile(r"/login/\?next="))

    page.get_by_label("Email").fill(partner_a.viewer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Customer associations")

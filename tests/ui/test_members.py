"""Members and roles: change roles, remove; the owner rules; rename. (New members come in by
invitation: tests/ui/test_invitations.py.)"""

from __future__ import annotations

from omni.tenants.models import Membership, Organization, Role


def _role(world, user) -> str | None:
    membership = Membership.objects.for_org(world.acme).filter(user=user).first()
    return membership.role if membership else None


def test_member_list_shows_only_this_organizations_members(world, login):
    page = login(world.viewer).get(f"/o/{world.acme.slug}/members/").content.decode()
    assert world.owner.username in page and world.admin.username in page
    assert world.member.username not in page  # globex's member
    assert "Invite a member" not in page and "Remove" not in page  # a viewer sees no write controls


def test_only_owners_touch_the_owner_role(world, login):
    admin = login(world.admin)
    slug = world.acme.slug
    # An admin can neither demote nor remove an owner, nor promote someone to owner.
    assert (
        admin.post(f"/o/{slug}/members/{world.owner.username}/role/", {"role": "viewer"}).status_code == 400
    )
    assert admin.post(f"/o/{slug}/members/{world.owner.username}/remove/").status_code == 400
    assert (
        admin.post(f"/o/{slug}/members/{world.viewer.username}/role/", {"role": "owner"}).status_code == 400
    )
    assert (_role(world, world.owner), _role(world, world.viewer)) == ("owner", "viewer")
    # An admin manages the other roles.
    assert (
        admin.post(f"/o/{slug}/members/{world.viewer.username}/role/", {"role": "member"}).status_code == 302
    )
    assert _role(world, world.viewer) == "member"


def test_the_last_owner_stays(world, login):
    owner = login(world.owner)
    slug = world.acme.slug
    response = owner.post(f"/o/{slug}/members/{world.owner.username}/role/", {"role": "admin"})
    assert response.status_code == 400
    assert "at least one owner" in response.content.decode()
    response = owner.post(f"/o/{slug}/members/{world.owner.username}/remove/")
    assert response.status_code == 400 and "last owner cannot be removed" in response.content.decode()
    assert _role(world, world.owner) == "owner"
    # With a second owner, the first may step down.
    assert owner.post(f"/o/{slug}/members/{world.admin.username}/role/", {"role": "owner"}).status_code == 302
    assert owner.post(f"/o/{slug}/members/{world.owner.username}/role/", {"role": "admin"}).status_code == 302
    assert (_role(world, world.owner), _role(world, world.admin)) == ("admin", "owner")


def test_remove_a_member_and_leave(world, login):
    slug = world.acme.slug
    owner = login(world.owner)
    assert owner.post(f"/o/{slug}/members/{world.acme_member.username}/remove/").status_code == 302
    assert _role(world, world.acme_member) is None
    assert owner.get(f"/o/{slug}/").status_code == 200
    # The removed user no longer sees acme at all.
    assert login(world.acme_member).get(f"/o/{slug}/").status_code == 404
    # A non-owner admin may leave; they land on / afterwards.
    response = login(world.admin).post(f"/o/{slug}/members/{world.admin.username}/remove/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert _role(world, world.admin) is None


def test_remove_over_htmx_redirects_the_whole_page(world, login):
    response = login(world.owner).post(
        f"/o/{world.acme.slug}/members/{world.viewer.username}/remove/", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/o/{world.acme.slug}/members/"


def test_rename_the_organization(world, login):
    slug = world.acme.slug
    owner = login(world.owner)
    assert owner.post(f"/o/{slug}/members/settings/", {"name": "Acme Rockets"}).status_code == 302
    assert Organization.objects.get(pk=world.acme.pk).name == "Acme Rockets"
    response = owner.post(f"/o/{slug}/members/settings/", {"name": ""})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    assert Organization.objects.get(pk=world.acme.pk).name == "Acme Rockets"
    assert Role.OWNER == "owner"

#!/usr/bin/perl
# A Net::IMAP::Simple session against zoo-imap over implicit TLS, printing what it saw.
#   perl imap_simple.pl PORT USER PASSWORD CA_FILE
use strict;
use warnings;
use Net::IMAP::Simple;

my ($port, $user, $password, $ca) = @ARGV;
my $imap = Net::IMAP::Simple->new("127.0.0.1:$port", use_ssl => 1,
    ssl_options => [SSL_ca_file => $ca, SSL_verifycn_name => "localhost"])
    or die "connect: $Net::IMAP::Simple::errstr\n";
$imap->login($user, $password) or die "login: " . $imap->errstr . "\n";
my $count = $imap->select("INBOX");
defined $count or die "select: " . $imap->errstr . "\n";
print "count $count\n";
my $lines = $imap->get(1) or die "get: " . $imap->errstr . "\n";
my ($subject) = grep { /^Subject:/ } @$lines;
$subject =~ s/\r?\n$//;
print "$subject\n";
my @found = $imap->search('SUBJECT "perl"');
print "search @found\n";
print "mailboxes ", join(",", sort $imap->mailboxes), "\n";
$imap->create_mailbox("Perl") or die "create: " . $imap->errstr . "\n";
$imap->copy(1, "Perl") or die "copy: " . $imap->errstr . "\n";
print "copied ", scalar($imap->select("Perl")), "\n";
$imap->quit;

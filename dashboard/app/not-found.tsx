import Link from 'next/link';

export default function NotFound() {
  return (
    <div className="empty">
      <h1>Not found</h1>
      <p>No such page. <Link href="/">Back to the start</Link>.</p>
    </div>
  );
}
